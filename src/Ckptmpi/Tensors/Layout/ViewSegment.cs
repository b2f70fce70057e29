namespace Ckptmpi.Tensors.Layout;

/// <summary>
/// An output record computed from views of canonical tensors: an array of <see cref="Shape"/> (row-major in the
/// file, from <see cref="OutputSegment.Offset"/>), written as <see cref="DType"/>, whose destination boxes are
/// filled by <see cref="Parts"/> (possibly from different tensors: fused QKV, stacked layers) through
/// <see cref="Op"/>. The planner cuts it only into row-major slabs, and never when the op reduces.
/// </summary>
public sealed record ViewSegment(long Offset, long[] Shape, DType DType, TensorOp Op, IReadOnlyList<ViewPart> Parts) : OutputSegment(Offset)
{
    /// <summary>The record's shape in the file (the scales of a quantization have the reduced axes at 1).</summary>
    public long[] RecordShape => Op.RecordShape(Shape);

    public long ElementCount => Op.RecordElementCount(Shape);

    public override long Length => checked(ElementCount * DType.SizeInBytes());

    public override string ToString() => $"view [{string.Join(", ", Shape)}] {DType} {Op} at {Offset}: {string.Join("; ", Parts)}";
}
