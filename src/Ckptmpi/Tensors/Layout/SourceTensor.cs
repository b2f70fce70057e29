namespace Ckptmpi.Tensors.Layout;

/// <summary>
/// One canonical tensor of the model (HF name, logical dtype and shape) and where each part of its elements is
/// stored in the source files. A HuggingFace tensor is one piece; a ZeRO parameter is one flat piece per
/// data-parallel partition that holds part of it; a tensor-parallel shard split along any dimension is one box
/// piece. Built by a format reader from metadata alone.
/// </summary>
public sealed record SourceTensor(string Name, DType DType, IReadOnlyList<long> Shape, IReadOnlyList<SourcePiece> Pieces)
{
    public long ElementCount => DTypes.ElementCount(Shape.ToArray());
}
