namespace Ckptmpi.Tensors.Layout;

/// <summary>
/// One canonical tensor of the model (HF name, logical dtype and shape) and where each run of its flattened
/// (row-major) elements is stored in the source files. A HuggingFace tensor is one piece; a ZeRO parameter is
/// one piece per data-parallel partition that holds part of it. Built by a format reader from metadata alone.
/// </summary>
public sealed record SourceTensor(string Name, DType DType, IReadOnlyList<long> Shape, IReadOnlyList<SourcePiece> Pieces)
{
    public long ElementCount => DTypes.ElementCount(Shape.ToArray());
}

/// <summary>
/// Elements <c>[FirstElement, FirstElement + ElementCount)</c> of a flattened canonical tensor, stored contiguously
/// in <paramref name="File"/> at <paramref name="ByteOffset"/> as <paramref name="StoredDType"/> (which may differ
/// from the tensor's logical dtype: ZeRO keeps fp32 master copies of bf16 weights).
/// </summary>
public sealed record SourcePiece(long FirstElement, long ElementCount, string File, long ByteOffset, DType StoredDType)
{
    public ByteRange Bytes => ByteRange.FromLength(ByteOffset, checked(ElementCount * StoredDType.SizeInBytes()));
}
