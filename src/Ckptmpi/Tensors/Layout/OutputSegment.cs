namespace Ckptmpi.Tensors.Layout;

/// <summary>
/// One contiguous run of bytes of an output file, at <see cref="Offset"/>: either known bytes (headers, pickles,
/// zip records), zeros (padding), or elements of a canonical tensor converted to a dtype.
/// </summary>
public abstract record OutputSegment(long Offset)
{
    public abstract long Length { get; }

    public long End => Offset + Length;
}

/// <summary>Bytes computed from metadata: headers, pickles, zip directories.</summary>
public sealed record LiteralSegment(long Offset, byte[] Bytes) : OutputSegment(Offset)
{
    public override long Length => Bytes.Length;
}

/// <summary>Zero bytes (alignment and partition padding).</summary>
public sealed record ZeroSegment(long Offset, long ZeroLength) : OutputSegment(Offset)
{
    public override long Length => ZeroLength;
}

/// <summary>
/// Elements <c>[FirstElement, FirstElement + ElementCount)</c> of the flattened canonical tensor <see cref="Tensor"/>,
/// written as <see cref="DType"/> (cast with round-to-nearest-even when it differs from the source).
/// </summary>
public sealed record TensorSegment(long Offset, string Tensor, long FirstElement, long ElementCount, DType DType) : OutputSegment(Offset)
{
    public override long Length => checked(ElementCount * DType.SizeInBytes());
}
