using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Formats.DeepSpeed;

/// <summary>A ZeRO checkpoint as read: where every tensor lives, and what the run that saved it was.</summary>
public sealed record ZeroSource(SourceCatalog Catalog, ZeroCheckpointInfo Info);
