using Ckptmpi.Tensors.Views;

namespace Ckptmpi.Tests.Tensors.Views;

public sealed class SplitShapesTests
{
    [Test]
    public void The_common_refinement_is_the_union_of_both_boundary_chains()
    {
        // q_proj [heads * hd, hidden] as [kv, q_per_kv, 2, hd/2, hidden] and as [heads * hd, hidden]
        Assert.That(SplitShapes.CommonRefinement([8, 2, 2, 4, 16], [128, 16]), Is.EqualTo(new long[] { 8, 2, 2, 4, 16 }));
        Assert.That(SplitShapes.CommonRefinement([6, 4], [2, 12]), Is.EqualTo(new long[] { 2, 3, 4 }));
        Assert.That(SplitShapes.CommonRefinement([1, 6, 1], [6]), Is.EqualTo(new long[] { 6 }), "size-1 axes are dropped");
    }

    [Test]
    public void Boundaries_that_do_not_divide_have_no_refinement()
    {
        Assert.That(() => SplitShapes.CommonRefinement([4, 6], [6, 4]), Throws.ArgumentException.With.Message.Contains("do not divide"));
        Assert.That(() => SplitShapes.CommonRefinement([4, 6], [25]), Throws.ArgumentException.With.Message.Contains("elements"));
        Assert.That(() => SplitShapes.Groups([4, 6], [2, 3, 4]), Throws.ArgumentException);
    }

    /// <summary>Every element of every decomposed box, as flat indices of the coarse tensor.</summary>
    private static List<long> Flat(long[] shape, IEnumerable<Box> boxes) =>
        boxes.SelectMany(b => TensorView.Contiguous(shape).Slice(b).Runs().SelectMany(r => Enumerable.Range(0, (int)r.Length).Select(i => r.First + i))).Order().ToList();

    [TestCase(0, 1), TestCase(5, 113), TestCase(24, 48), TestCase(7, 200), TestCase(0, 240), TestCase(37, 203)]
    public void A_range_decomposes_into_few_aligned_blocks_covering_it_exactly(long first, long count)
    {
        long[] fine = [4, 6, 10];
        List<Box> boxes = SplitShapes.Decompose([240], Box.Range(first, count), fine);
        Assert.That(Flat(fine, boxes), Is.EqualTo(Enumerable.Range((int)first, (int)count).Select(i => (long)i).ToList()));
        Assert.That(boxes, Has.Count.LessThanOrEqualTo(2 * fine.Length - 1));
    }

    [Test]
    public void A_box_of_a_matrix_decomposes_axis_by_axis()
    {
        // [12, 5] refined as [3, 4, 5]: rows 2..9 are 3 blocks on the row axis, the columns stay one range.
        var box = new Box([2, 1], [8, 3]);
        List<Box> boxes = SplitShapes.Decompose([12, 5], box, [3, 4, 5]);
        Assert.That(boxes, Has.Count.EqualTo(3));
        var expected = new List<long>();
        for (long r = 2; r < 10; r++) for (long c = 1; c < 4; c++) expected.Add(r * 5 + c);
        Assert.That(Flat([3, 4, 5], boxes), Is.EqualTo(expected));
    }

    [Test]
    public void First_block_is_the_largest_row_major_slab_from_the_start()
    {
        (Box slab, long n) = SplitShapes.FirstBlock([4, 3, 5], 15, 60);
        Assert.That((slab, n), Is.EqualTo((new Box([1, 0, 0], [3, 3, 5]), 45L)));
        (slab, n) = SplitShapes.FirstBlock([4, 3, 5], 17, 60);
        Assert.That((slab, n), Is.EqualTo((new Box([1, 0, 2], [1, 1, 3]), 3L)), "to the end of the row first");
        (slab, n) = SplitShapes.FirstBlock([4, 3, 5], 20, 33);
        Assert.That((slab, n), Is.EqualTo((new Box([1, 1, 0], [1, 2, 5]), 10L)));
    }
}
