using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Tests.Tensors.Layout;

/// <summary>The planner sizes records by <see cref="TensorOp.RecordElementCount"/>: it must agree with the shape written, for every op.</summary>
public sealed class TensorOpTests
{
    private static IEnumerable<TensorOp> Ops() =>
    [
        TensorOp.Copy,
        TensorOp.MeanRows(3, DType.F32),
        new TensorOp(TensorOpKind.QuantizeValues, ReducedAxes: [0], ScaleDType: DType.BF16),
        new TensorOp(TensorOpKind.QuantizeScales, ReducedAxes: [0, 2], ScaleDType: DType.BF16),
    ];

    [Test]
    public void The_element_count_of_every_record_is_that_of_its_shape()
    {
        foreach (TensorOp op in Ops())
        foreach (long[] shape in new long[][] { [5, 4, 3], [7, 2, 1], [1, 9, 8] })
            Assert.That(op.RecordElementCount(shape), Is.EqualTo(op.RecordShape(shape).Aggregate(1L, (a, b) => a * b)), $"{op} [{string.Join(", ", shape)}]");
    }
}
