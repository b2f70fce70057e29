using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Conversion.Planning;

/// <summary>
/// An N-d strided copy inside the buffer: element <c>x</c> of <see cref="Shape"/> is read as <see cref="From"/> at
/// byte <c>SourceOffset + sum(x[i] * SourceStrides[i]) * size(From)</c> (staged source bytes), goes through
/// <see cref="Op"/> (<see cref="Factor"/> for a scale) and is written as <see cref="To"/> at byte
/// <c>DestinationOffset + sum(x[i] * DestinationStrides[i]) * size(To)</c>. Strides are in elements; a source
/// stride of 0 repeats an element. Axes are ordered by destination stride, size-1 axes dropped, mergeable axes merged.
/// </summary>
public sealed record GatherOp(int SourceOffset, long[] SourceStrides, int DestinationOffset, long[] DestinationStrides, long[] Shape,
                              DType From, DType To, TensorOpKind Op, float Factor)
{
    /// <summary>Destination is the chunk's fp32 scratch (a reducing record), rebased with the staging area.</summary>
    public bool ToScratch { get; init; }

    public long Elements => DTypes.ElementCount(Shape);
}
