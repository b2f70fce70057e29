using Ckptmpi.Tensors.Views;

namespace Ckptmpi.Tests.Tensors.Views;

public sealed class TensorViewTests
{
    /// <summary>The flat elements a view addresses, in its row-major order.</summary>
    private static List<long> Elements(TensorView v) => v.Runs().SelectMany(r => Enumerable.Range(0, (int)r.Length).Select(i => r.First + i)).ToList();

    [Test]
    public void A_contiguous_view_is_one_run_and_a_column_one_run_per_element()
    {
        TensorView m = TensorView.Contiguous([3, 4]);
        Assert.That(m.Runs(), Is.EqualTo(new[] { (0L, 12L) }));
        Assert.That(m.Slice(1, 2, 1).Runs(), Is.EqualTo(new[] { (2L, 1L), (6L, 1L), (10L, 1L) }));
        Assert.That(m.Slice(0, 1, 2).Runs(), Is.EqualTo(new[] { (4L, 8L) }), "whole rows coalesce");
    }

    [Test]
    public void Slice_by_box_permute_and_split_address_what_torch_would()
    {
        TensorView m = TensorView.Contiguous([4, 6]);
        // m[1:3, 2:5]
        Assert.That(Elements(m.Slice(new Box([1, 2], [2, 3]))), Is.EqualTo(new long[] { 8, 9, 10, 14, 15, 16 }));
        // m.t()
        Assert.That(Elements(m.Permute([1, 0]).Slice(0, 0, 2)), Is.EqualTo(new long[] { 0, 6, 12, 18, 1, 7, 13, 19 }));
        // m.view(4, 2, 3)[:, 1] == m[:, 3:6]
        Assert.That(Elements(m.Split(1, 2, 3).Slice(1, 1, 1)), Is.EqualTo(Elements(m.Slice(1, 3, 3))));
    }

    [Test]
    public void Rotary_interleave_to_halves_is_split_permute_merge()
    {
        // rows of one head of hd = 4: interleaved (0, 1, 2, 3) -> halves (0, 2, 1, 3)
        TensorView v = TensorView.Contiguous([4]).Split(0, 2, 2).Permute([1, 0]);
        Assert.That(Elements(v), Is.EqualTo(new long[] { 0, 2, 1, 3 }));
        Assert.That(v.CanMerge(0), Is.False, "a transposed pair is not one run");
    }

    [Test]
    public void Merge_joins_adjacent_axes_only_when_strides_allow()
    {
        TensorView m = TensorView.Contiguous([2, 3, 4]);
        TensorView merged = m.Merge(1);
        Assert.That(merged.Shape, Is.EqualTo(new long[] { 2, 12 }));
        Assert.That(merged.Strides, Is.EqualTo(new long[] { 12, 1 }));
        Assert.That(() => m.Permute([0, 2, 1]).Merge(1), Throws.InvalidOperationException);
    }

    [Test]
    public void Broadcast_repeats_with_stride_zero()
    {
        TensorView v = TensorView.Contiguous([2, 3]).Broadcast(1, 2);
        Assert.That(v.Shape, Is.EqualTo(new long[] { 2, 2, 3 }));
        Assert.That(Elements(v), Is.EqualTo(new long[] { 0, 1, 2, 0, 1, 2, 3, 4, 5, 3, 4, 5 }));
        Assert.That(v.Extent(), Is.EqualTo((0L, 6L)));
    }

    [Test]
    public void Bad_arguments_are_refused()
    {
        TensorView m = TensorView.Contiguous([4, 6]);
        Assert.That(() => m.Slice(1, 5, 2), Throws.InstanceOf<ArgumentOutOfRangeException>());
        Assert.That(() => m.Split(0, 3, 2), Throws.ArgumentException);
        Assert.That(() => m.Permute([0, 0]), Throws.ArgumentException);
        Assert.That(() => m.Slice(new Box([0], [1])), Throws.InstanceOf<ArgumentOutOfRangeException>());
    }
}
