using Ckptmpi.Formats.Torch.Pickle;

namespace Ckptmpi.Formats.DeepSpeed;

/// <summary>A run of elements of a storage the writer fills: canonical-tensor elements or zeros.</summary>
internal abstract record StorageFill(long Count);

/// <summary>Elements <c>[First, First + Count)</c> of canonical tensor <see cref="Tensor"/>, cast to the storage dtype.</summary>
internal sealed record TensorFill(string Tensor, long First, long Count) : StorageFill(Count);

/// <summary>Zero elements (partition and alignment padding).</summary>
internal sealed record ZeroFill(long Count) : StorageFill(Count);
