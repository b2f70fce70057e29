using Ckptmpi.Tensors.Views;

namespace Ckptmpi.Tests.Tensors.Views;

public sealed class BoxTests
{
    [Test]
    public void Intersection_is_the_common_part_or_null()
    {
        var a = new Box([0, 2], [4, 6]);
        var b = new Box([3, 0], [5, 4]);
        Assert.That(a.Intersect(b), Is.EqualTo(new Box([3, 2], [1, 2])));
        Assert.That(a.Intersect(new Box([4, 0], [1, 8])), Is.Null, "touching edges do not overlap");
        Assert.That(a.ElementCount, Is.EqualTo(24));
    }

    [Test]
    public void Containment_and_fitting_a_shape()
    {
        var a = new Box([1, 1], [2, 2]);
        Assert.That(Box.Full([4, 4]).Contains(a), Is.True);
        Assert.That(a.Contains(Box.Full([4, 4])), Is.False);
        Assert.That(a.FitsIn([3, 3]), Is.True);
        Assert.That(a.FitsIn([3, 2]), Is.False);
        Assert.That(a.FitsIn([3, 3, 1]), Is.False, "rank differs");
    }

    [Test]
    public void Malformed_boxes_and_rank_mismatches_are_refused()
    {
        Assert.That(() => new Box([0], [1, 2]), Throws.ArgumentException);
        Assert.That(() => new Box([-1], [2]), Throws.InstanceOf<ArgumentOutOfRangeException>());
        Assert.That(() => Box.Range(0, 4).Intersect(Box.Full([2, 2])), Throws.ArgumentException);
    }
}
