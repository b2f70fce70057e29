using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Conversion.Planning;

/// <summary>
/// Quantizes a whole record gathered as fp32 into the chunk's scratch at <see cref="ScratchOffset"/> (row-major
/// <see cref="Shape"/>): the int8 values, or the per-channel scales, of <see cref="Op"/>, written at <see cref="BufferOffset"/>;
/// or the row mean of <see cref="TensorOpKind.MeanRows"/>, written as <see cref="DType"/>.
/// </summary>
public sealed record ReduceStep(int ScratchOffset, long[] Shape, TensorOp Op, int BufferOffset, DType DType = DType.F32)
{
    /// <summary><see cref="BufferOffset"/> lies past the output area (a companion file's bytes), rebased with the staging area.</summary>
    public bool ToStaging { get; init; }
}
