namespace Ckptmpi.Tensors.Views;

/// <summary>
/// A strided view of elements: index <c>x</c> of <see cref="Shape"/> is element
/// <c>Offset + sum(x[i] * Strides[i])</c> of some flat array (a stored piece, a staging area, an output record).
/// A stride of 0 repeats one element along its axis (broadcast). Every operation here is metadata only; reading
/// the elements is the gather kernel's job.
/// </summary>
public sealed class TensorView
{
    public TensorView(long[] shape, long[] strides, long offset)
    {
        if (shape.Length != strides.Length) throw new ArgumentException($"{shape.Length} axes but {strides.Length} strides");
        if (shape.Any(d => d < 0)) throw new ArgumentOutOfRangeException(nameof(shape), $"negative extent in [{string.Join(", ", shape)}]");
        Shape = shape;
        Strides = strides;
        Offset = offset;
    }

    public long[] Shape { get; }

    public long[] Strides { get; }

    public long Offset { get; }

    public int Rank => Shape.Length;

    public long ElementCount => DTypes.ElementCount(Shape);

    /// <summary>A row-major array of <paramref name="shape"/> starting at <paramref name="offset"/>.</summary>
    public static TensorView Contiguous(IReadOnlyList<long> shape, long offset = 0) => new(shape.ToArray(), RowMajorStrides(shape), offset);

    public static long[] RowMajorStrides(IReadOnlyList<long> shape)
    {
        var strides = new long[shape.Count];
        long s = 1;
        for (int i = shape.Count - 1; i >= 0; i--)
        {
            strides[i] = s;
            s = checked(s * shape[i]);
        }
        return strides;
    }

    /// <summary>Indices <c>[start, start + length)</c> of <paramref name="axis"/>.</summary>
    public TensorView Slice(int axis, long start, long length)
    {
        CheckAxis(axis);
        if (start < 0 || length < 0 || start + length > Shape[axis])
            throw new ArgumentOutOfRangeException(nameof(start), $"slice [{start}, {start + length}) of axis {axis} with extent {Shape[axis]}");
        long[] shape = (long[])Shape.Clone();
        shape[axis] = length;
        return new TensorView(shape, (long[])Strides.Clone(), Offset + start * Strides[axis]);
    }

    public TensorView Slice(Box box)
    {
        if (!box.FitsIn(Shape)) throw new ArgumentOutOfRangeException(nameof(box), $"box {box} does not fit shape [{string.Join(", ", Shape)}]");
        long offset = Offset;
        for (int i = 0; i < Rank; i++) offset += box.Start[i] * Strides[i];
        return new TensorView((long[])box.Length.Clone(), (long[])Strides.Clone(), offset);
    }

    /// <summary>Axis <paramref name="axis"/> of extent <c>outer * inner</c> seen as two axes, row-major: always possible.</summary>
    public TensorView Split(int axis, long outer, long inner)
    {
        CheckAxis(axis);
        if (outer < 1 || inner < 1 || outer * inner != Shape[axis])
            throw new ArgumentException($"axis {axis} of extent {Shape[axis]} cannot be split as {outer} x {inner}");
        var shape = new List<long>(Shape);
        var strides = new List<long>(Strides);
        shape[axis] = inner;
        shape.Insert(axis, outer);
        strides.Insert(axis, Strides[axis] * inner);
        return new TensorView(shape.ToArray(), strides.ToArray(), Offset);
    }

    /// <summary>Whether axes <paramref name="axis"/> and <c>axis + 1</c> address elements as one axis would.</summary>
    public bool CanMerge(int axis)
    {
        CheckAxis(axis);
        CheckAxis(axis + 1);
        return Shape[axis] <= 1 || Shape[axis + 1] <= 1 || Strides[axis] == Strides[axis + 1] * Shape[axis + 1];
    }

    /// <summary>Axes <paramref name="axis"/> and <c>axis + 1</c> as one; refused when the strides do not allow it.</summary>
    public TensorView Merge(int axis)
    {
        if (!CanMerge(axis))
            throw new InvalidOperationException($"axes {axis} and {axis + 1} (extents {Shape[axis]}, {Shape[axis + 1]}; strides {Strides[axis]}, {Strides[axis + 1]}) are not one run of memory");
        var shape = new List<long>(Shape);
        var strides = new List<long>(Strides);
        long inner = Shape[axis + 1] <= 1 ? Strides[axis] : Strides[axis + 1];
        shape[axis] = Shape[axis] * Shape[axis + 1];
        strides[axis] = inner;
        shape.RemoveAt(axis + 1);
        strides.RemoveAt(axis + 1);
        return new TensorView(shape.ToArray(), strides.ToArray(), Offset);
    }

    /// <summary>Axis <c>k</c> of the result is axis <c>order[k]</c> of this view.</summary>
    public TensorView Permute(IReadOnlyList<int> order)
    {
        CheckPermutation(order, Rank);
        return new TensorView(order.Select(a => Shape[a]).ToArray(), order.Select(a => Strides[a]).ToArray(), Offset);
    }

    /// <summary>A new axis of extent <paramref name="n"/> at position <paramref name="axis"/> that repeats the view (stride 0).</summary>
    public TensorView Broadcast(int axis, long n)
    {
        if (axis < 0 || axis > Rank) throw new ArgumentOutOfRangeException(nameof(axis), $"axis {axis} of a rank-{Rank} view");
        var shape = new List<long>(Shape);
        var strides = new List<long>(Strides);
        shape.Insert(axis, n);
        strides.Insert(axis, 0);
        return new TensorView(shape.ToArray(), strides.ToArray(), Offset);
    }

    /// <summary>
    /// The view's elements as runs of consecutive flat elements, in the view's row-major order: trailing axes
    /// whose strides make them one run are coalesced, so a row-major block is one run and a column of a matrix is
    /// one run per element. Runs are returned as (first flat element, length).
    /// </summary>
    public IEnumerable<(long First, long Length)> Runs()
    {
        if (ElementCount == 0) yield break;
        int inner = Rank;
        long run = 1;
        while (inner > 0 && (Shape[inner - 1] == 1 || Strides[inner - 1] == run))
        {
            run *= Shape[inner - 1];
            inner--;
        }
        var index = new long[inner];
        while (true)
        {
            long at = Offset;
            for (int i = 0; i < inner; i++) at += index[i] * Strides[i];
            yield return (at, run);
            int a = inner - 1;
            while (a >= 0 && ++index[a] == Shape[a]) index[a--] = 0;
            if (a < 0) yield break;
        }
    }

    /// <summary>The smallest and one past the largest flat element the view touches (empty views: (Offset, Offset)).</summary>
    public (long Min, long End) Extent()
    {
        if (ElementCount == 0) return (Offset, Offset);
        long min = Offset, max = Offset;
        for (int i = 0; i < Rank; i++)
        {
            long reach = (Shape[i] - 1) * Strides[i];
            if (reach < 0) min += reach; else max += reach;
        }
        return (min, max + 1);
    }

    internal static void CheckPermutation(IReadOnlyList<int> order, int rank)
    {
        // Without LINQ: a plan checks one permutation per view part, and a 405B layout has 10^5 parts.
        bool ok = order.Count == rank && rank <= 64;
        ulong seen = 0;
        for (int i = 0; ok && i < rank; i++)
        {
            int a = order[i];
            ok = a >= 0 && a < rank && (seen & (1UL << a)) == 0;
            seen |= ok ? 1UL << a : 0;
        }
        if (!ok) throw new ArgumentException($"[{string.Join(", ", order)}] is not a permutation of {rank} axes");
    }

    private void CheckAxis(int axis)
    {
        if (axis < 0 || axis >= Rank) throw new ArgumentOutOfRangeException(nameof(axis), $"axis {axis} of a rank-{Rank} view");
    }

    public override string ToString() => $"view[{string.Join(", ", Shape)}] strides [{string.Join(", ", Strides)}] + {Offset}";
}
