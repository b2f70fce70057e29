namespace Ckptmpi.Tensors.Views;

/// <summary>
/// Split shapes: a canonical tensor of logical shape S seen row-major as a finer shape G whose axes multiply,
/// in order, to S's axes (size-1 axes may be inserted anywhere). q_proj [heads*hd, hidden] seen as
/// [kv_heads, q_per_kv, 2, hd/2, hidden] is one; a flat run is [numel]. Two split shapes of the same tensor have a
/// common refinement when their suffix-product chains (the row-major strides of each axis boundary) form one
/// divisibility chain; every box of either is then a union of few boxes of the refinement.
/// </summary>
public static class SplitShapes
{
    /// <summary>
    /// The coarsest shape refining both <paramref name="a"/> and <paramref name="b"/> (same element count): the
    /// union of their axis boundaries, expressed as suffix products, sorted. Extents of 1 are dropped, so the
    /// result has no size-1 axes (an empty shape for a one-element tensor).
    /// </summary>
    /// <exception cref="ArgumentException">different element counts, or boundaries that do not divide each other.</exception>
    public static long[] CommonRefinement(IReadOnlyList<long> a, IReadOnlyList<long> b)
    {
        long na = DTypes.ElementCount(a.ToArray()), nb = DTypes.ElementCount(b.ToArray());
        if (na != nb)
            throw new ArgumentException($"[{string.Join(", ", a)}] has {na} elements but [{string.Join(", ", b)}] has {nb}: not views of one tensor");
        if (na == 0) return [0];
        var chain = SuffixProducts(a).Union(SuffixProducts(b)).Order().ToArray();
        // chain[0] == 1, chain[^1] == numel: consecutive boundaries must divide.
        var shape = new long[chain.Length - 1];
        for (int i = 1; i < chain.Length; i++)
        {
            if (chain[i] % chain[i - 1] != 0)
                throw new ArgumentException($"[{string.Join(", ", a)}] and [{string.Join(", ", b)}] split the tensor at {chain[i - 1]} and {chain[i]} elements, which do not divide: no common refinement");
            shape[chain.Length - 1 - i] = chain[i] / chain[i - 1];
        }
        return shape;
    }

    /// <summary>
    /// For each axis of <paramref name="coarse"/>, the axes of <paramref name="fine"/> (a refinement without size-1
    /// axes, as <see cref="CommonRefinement"/> returns) that make it up: <c>[First, First + Count)</c>; a size-1
    /// coarse axis has none.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="fine"/> does not refine <paramref name="coarse"/>.</exception>
    public static (int First, int Count)[] Groups(IReadOnlyList<long> coarse, IReadOnlyList<long> fine)
    {
        var groups = new (int, int)[coarse.Count];
        int f = 0;
        for (int c = 0; c < coarse.Count; c++)
        {
            int first = f;
            long product = 1;
            while (product < coarse[c] && f < fine.Count) product *= fine[f++];
            if (product != coarse[c])
                throw new ArgumentException($"[{string.Join(", ", fine)}] does not refine [{string.Join(", ", coarse)}] at axis {c}");
            groups[c] = (first, f - first);
        }
        if (f != fine.Count) throw new ArgumentException($"[{string.Join(", ", fine)}] does not refine [{string.Join(", ", coarse)}]: axes left over");
        return groups;
    }

    /// <summary>
    /// A box of <paramref name="coarse"/> as boxes of its refinement <paramref name="fine"/>: on each coarse axis
    /// the 1-D range is cut into mixed-radix aligned blocks (at most 2 per fine axis of its group), and the result
    /// is the product over axes. Their union is exactly the box; they do not overlap.
    /// </summary>
    public static List<Box> Decompose(IReadOnlyList<long> coarse, Box box, IReadOnlyList<long> fine)
    {
        if (!box.FitsIn(coarse)) throw new ArgumentOutOfRangeException(nameof(box), $"box {box} does not fit [{string.Join(", ", coarse)}]");
        if (box.IsEmpty) return [];
        if (coarse.Count == fine.Count && coarse.SequenceEqual(fine)) return [box];
        (int First, int Count)[] groups = Groups(coarse, fine);
        var result = new List<Box> { new(new long[fine.Count], fine.ToArray()) };
        for (int c = 0; c < coarse.Count; c++)
        {
            (int first, int count) = groups[c];
            if (count == 0) continue;
            var radices = new long[count];
            for (int j = 0; j < count; j++) radices[j] = fine[first + j];
            var blocks = new List<(long[] Start, long[] Length)>();
            Blocks(radices, 0, box.Start[c], box.End(c), new long[count], new long[count], blocks);
            var next = new List<Box>(result.Count * blocks.Count);
            foreach (Box b in result)
            foreach (var (start, length) in blocks)
            {
                long[] s = (long[])b.Start.Clone(), l = (long[])b.Length.Clone();
                start.CopyTo(s, first);
                length.CopyTo(l, first);
                next.Add(new Box(s, l));
            }
            result = next;
        }
        return result;
    }

    /// <summary>Elements <c>[a, b)</c> of a mixed-radix axis as aligned blocks, fixing leading digits as needed.</summary>
    private static void Blocks(long[] radices, int level, long a, long b, long[] start, long[] length, List<(long[], long[])> into)
    {
        if (a >= b) return;
        long below = 1;
        for (int j = level + 1; j < radices.Length; j++) below *= radices[j];
        if (level == radices.Length - 1 || (a % below == 0 && b % below == 0))
        {
            long[] s = (long[])start.Clone(), l = (long[])length.Clone();
            s[level] = a / below;
            l[level] = (b - a) / below;
            for (int j = level + 1; j < radices.Length; j++) { s[j] = 0; l[j] = radices[j]; }
            into.Add((s, l));
            return;
        }
        long firstFull = (a + below - 1) / below, lastFull = b / below;
        if (firstFull > lastFull)
        {
            // a and b share the leading digit: fix it and refine below.
            Fix(radices, level, a / below, a % below, b - a / below * below, start, length, into);
            return;
        }
        if (a % below != 0) Fix(radices, level, a / below, a % below, below, start, length, into);
        if (lastFull > firstFull) Blocks(radices, level, firstFull * below, lastFull * below, start, length, into);
        if (b % below != 0) Fix(radices, level, lastFull, 0, b % below, start, length, into);
    }

    private static void Fix(long[] radices, int level, long digit, long a, long b, long[] start, long[] length, List<(long[], long[])> into)
    {
        long[] s = (long[])start.Clone(), l = (long[])length.Clone();
        s[level] = digit;
        l[level] = 1;
        Blocks(radices, level + 1, a, b, s, l, into);
    }

    /// <summary>
    /// The largest row-major slab of <paramref name="shape"/> that starts at flat element <paramref name="first"/> and
    /// ends by <paramref name="end"/>: leading indices fixed, a range on one axis, every axis below it whole. Cutting a
    /// run of elements into such slabs gives boxes that are each one contiguous byte range of the record.
    /// </summary>
    public static (Box Slab, long Elements) FirstBlock(IReadOnlyList<long> shape, long first, long end)
    {
        if (end <= first) throw new ArgumentOutOfRangeException(nameof(end), $"empty range [{first}, {end})");
        long[] strides = TensorView.RowMajorStrides(shape);
        int rank = shape.Count;
        var start = new long[rank];
        long rest = first;
        for (int i = 0; i < rank; i++)
        {
            start[i] = rest / strides[i];
            rest %= strides[i];
        }
        for (int i = 0; i < rank; i++)
        {
            if (first % strides[i] != 0 || end - first < strides[i]) continue;
            long count = Math.Min((end - first) / strides[i], shape[i] - start[i]);
            var length = new long[rank];
            for (int j = 0; j < rank; j++) length[j] = j < i ? 1 : j == i ? count : shape[j];
            for (int j = i + 1; j < rank; j++) start[j] = 0;
            return (new Box(start, length), count * strides[i]);
        }
        // A scalar record: its one element.
        return (new Box(start, []), 1);
    }

    private static IEnumerable<long> SuffixProducts(IReadOnlyList<long> shape)
    {
        long p = 1;
        yield return p;
        for (int i = shape.Count - 1; i >= 0; i--)
        {
            p = checked(p * shape[i]);
            yield return p;
        }
    }
}
