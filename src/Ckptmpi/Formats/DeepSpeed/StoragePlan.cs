using Ckptmpi.Formats.Torch.Pickle;

namespace Ckptmpi.Formats.DeepSpeed;

/// <summary>One storage of a planned torch.save file and what fills it, in order, covering all its elements.</summary>
internal sealed record StoragePlan(TorchStorage Storage, IReadOnlyList<StorageFill> Fills);
