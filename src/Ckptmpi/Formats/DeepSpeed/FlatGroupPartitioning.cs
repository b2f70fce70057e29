namespace Ckptmpi.Formats.DeepSpeed;

// As DeepSpeed computes it in stage_1_and_2.py (ZeRO-1/2) and bf16_optimizer.py (BF16_Optimizer).

/// <summary>
/// How ZeRO-1/2 (and BF16_Optimizer) cut one optimizer param group into equal per-rank partitions: the group's
/// trainable params are flattened back to back (no per-param padding), the flat buffer is zero-padded to a multiple of
/// <c>2 * dp</c> elements (NCCL start alignment factor 2, independent of dtype), and rank r owns
/// <c>[r * ps, (r + 1) * ps)</c>. Padding therefore only ever sits at the end of the buffer, possibly spanning
/// several trailing ranks when the group is tiny.
/// </summary>
/// <example>
/// Numels 40, 16, 4, 4, 16, 5 (85 elements), dp 3: align 6, aligned 90, ps 30. Rank 0 holds param 0 [0, 30);
/// rank 1 holds param 0 [30, 40), param 1, param 2; rank 2 holds params 3, 4, 5 and 5 padding elements.
/// </example>
public sealed class FlatGroupPartitioning
{
    /// <summary><c>nccl_start_alignment_factor</c> in stage_1_and_2.py: the group is padded to a multiple of this times dp.</summary>
    public const int AlignmentFactor = 2;

    private readonly long[] _numels;
    private readonly long[] _offsets;

    private FlatGroupPartitioning(long[] numels, long[] offsets, int dpSize, long original, long aligned)
    {
        _numels = numels;
        _offsets = offsets;
        DpSize = dpSize;
        OriginalNumel = original;
        AlignedNumel = aligned;
        PartitionSize = aligned / dpSize;
    }

    public int DpSize { get; }

    /// <summary>Sum of the params' element counts.</summary>
    public long OriginalNumel { get; }

    /// <summary>Flat buffer size after padding to a multiple of <c>2 * dp</c>: the storage numel of the 16-bit module views.</summary>
    public long AlignedNumel { get; }

    /// <summary>Elements per rank (<c>AlignedNumel / dp</c>, exact).</summary>
    public long PartitionSize { get; }

    public int ParamCount => _numels.Length;

    /// <summary>Total padding elements (<c>AlignedNumel - OriginalNumel</c>).</summary>
    public long TotalPadding => AlignedNumel - OriginalNumel;

    public long Numel(int param) => _numels[param];

    /// <summary>Where a param starts in the flat buffer (the storage offset of its module view).</summary>
    public long FlatOffset(int param) => _offsets[param];

    /// <exception cref="ArgumentOutOfRangeException">dp &lt; 1 or a negative numel.</exception>
    public static FlatGroupPartitioning For(IReadOnlyList<long> numels, int dpSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(dpSize, 1);
        var n = new long[numels.Count];
        var off = new long[numels.Count];
        long acc = 0;
        for (int i = 0; i < n.Length; i++)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(numels[i]);
            n[i] = numels[i];
            off[i] = acc;
            acc = checked(acc + numels[i]);
        }
        long align = checked(AlignmentFactor * (long)dpSize);
        long aligned = checked((acc + align - 1) / align * align);
        return new FlatGroupPartitioning(n, off, dpSize, acc, aligned);
    }

    /// <summary>First flat element of rank r's partition.</summary>
    public long PartitionStart(int rank)
    {
        CheckRank(rank);
        return rank * PartitionSize;
    }

    /// <summary>
    /// Padding elements inside rank r's partition, as DeepSpeedZeroOptimizer writes in <c>group_paddings</c>:
    /// the partition minus the real elements it holds.
    /// </summary>
    public long Padding(int rank)
    {
        long left = PartitionStart(rank);
        if (OriginalNumel <= left) return PartitionSize;
        if (OriginalNumel < left + PartitionSize) return left + PartitionSize - OriginalNumel;
        return 0;
    }

    /// <summary>Real (non-padding) elements in rank r's partition: the numel of the lean fp32 view ZeRO-1/2 saves.</summary>
    public long ValidElements(int rank) => PartitionSize - Padding(rank);

    /// <summary>
    /// BF16_Optimizer's <c>group_paddings</c> value: the whole group's padding on the last rank, 0 elsewhere. It can
    /// exceed the partition size for tiny groups and huge dp; DeepSpeed writes it anyway.
    /// </summary>
    public long Bf16OptimizerPadding(int rank)
    {
        CheckRank(rank);
        return rank == DpSize - 1 ? TotalPadding : 0;
    }

    /// <summary>
    /// The params overlapping rank r's partition, in flat order: which elements of the param and where they sit in
    /// the partition (DeepSpeed's <c>param_slice_mappings</c>: numel = Count, start = PartitionOffset).
    /// </summary>
    public IReadOnlyList<PartitionFragment> Fragments(int rank)
    {
        long left = PartitionStart(rank);
        long right = left + PartitionSize;
        var list = new List<PartitionFragment>();
        // Binary search would do; groups have at most a few thousand params and this runs once per rank.
        for (int i = 0; i < _numels.Length; i++)
        {
            long a = _offsets[i], b = a + _numels[i];
            long lo = Math.Max(a, left), hi = Math.Min(b, right);
            if (lo < hi) list.Add(new PartitionFragment(i, lo - a, lo - left, hi - lo));
        }
        return list;
    }

    private void CheckRank(int rank)
    {
        if ((uint)rank >= (uint)DpSize) throw new ArgumentOutOfRangeException(nameof(rank), rank, $"rank must be in [0, {DpSize})");
    }
}
