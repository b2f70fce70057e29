namespace Ckptmpi.Formats.DeepSpeed;

// As DeepSpeed computes it in partition_parameters.py (_partition_param, _padding_size) and stage3.py
// (_create_fp16_sub_groups, _create_fp32_partitions).

/// <summary>
/// ZeRO-3's per-parameter partitioning: each param of numel n is padded to <c>pn * dp</c> with <c>pn = ceil(n / dp)</c>
/// and rank r holds elements <c>[r * pn, (r + 1) * pn)</c> (positions &gt;= n are padding, possibly whole trailing
/// ranks when n &lt; dp). Trainable params are grouped into sub-groups: accumulate params in order and close the
/// sub-group as soon as the running sum of <c>pn</c> reaches <c>sub_group_size</c>, or at the last param; if
/// <c>sub_group_size</c> is at least the group's total the whole group is one sub-group. Rank r's
/// <c>fp32_flat_groups[i]</c> is the concatenation of its partitions of sub-group i's params, with no padding between.
/// </summary>
/// <example>
/// dp 4, numels 65, 16: pn 17 and 4; rank 3 holds elements [51, 65) of the first param and 3 padding elements,
/// then [12, 16) of the second; its flat group has 21 elements.
/// </example>
public sealed class Zero3Partitioning
{
    /// <summary>DeepSpeed's default <c>zero_optimization.sub_group_size</c> (1e9 elements).</summary>
    public const long DefaultSubGroupSize = 1_000_000_000;

    private readonly long[] _numels;
    private readonly long[] _pn;
    private readonly int[] _subGroup;
    private readonly long[] _offsetInSubGroup;
    private readonly List<(int First, int Count, long Numel)> _subGroups;

    private Zero3Partitioning(int dp, long[] numels, long[] pn, int[] subGroup, long[] offsetInSubGroup, List<(int, int, long)> subGroups)
    {
        DpSize = dp;
        _numels = numels;
        _pn = pn;
        _subGroup = subGroup;
        _offsetInSubGroup = offsetInSubGroup;
        _subGroups = subGroups;
    }

    public int DpSize { get; }

    public int ParamCount => _numels.Length;

    public int SubGroupCount => _subGroups.Count;

    /// <summary>Per-rank partition numel of a param (<c>ceil(n / dp)</c>; <c>ds_tensor.numel()</c>).</summary>
    public long PartitionNumel(int param) => _pn[param];

    public long Numel(int param) => _numels[param];

    /// <summary>Padding elements DeepSpeed adds to a param (<c>pn * dp - n</c>).</summary>
    public long Padding(int param) => _pn[param] * DpSize - _numels[param];

    /// <summary>Sum of every param's padding (the MANIFEST's "padding" column).</summary>
    public long TotalPadding => Enumerable.Range(0, ParamCount).Sum(Padding);

    public int SubGroupOf(int param) => _subGroup[param];

    /// <summary>Where param's partition starts in its sub-group's flat fp32 tensor (same on every rank).</summary>
    public long OffsetInSubGroup(int param) => _offsetInSubGroup[param];

    /// <summary>Params of sub-group i: [First, First + Count), and the sub-group's per-rank flat numel.</summary>
    public (int First, int Count, long Numel) SubGroup(int index) => _subGroups[index];

    /// <summary>Valid (non-padding) elements of param on rank r: <c>[r * pn, min(n, (r + 1) * pn))</c>, possibly empty.</summary>
    public (long ParamOffset, long Count) ValidRange(int param, int rank)
    {
        if ((uint)rank >= (uint)DpSize) throw new ArgumentOutOfRangeException(nameof(rank), rank, $"rank must be in [0, {DpSize})");
        long start = rank * _pn[param];
        long end = Math.Min(_numels[param], start + _pn[param]);
        return end > start ? (start, end - start) : (Math.Min(start, _numels[param]), 0);
    }

    /// <param name="numels">Trainable params of one optimizer param group, in group order.</param>
    /// <param name="dpSize">Data-parallel world size.</param>
    /// <param name="subGroupSize">zero_optimization.sub_group_size (elements).</param>
    public static Zero3Partitioning For(IReadOnlyList<long> numels, int dpSize, long subGroupSize = DefaultSubGroupSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(dpSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(subGroupSize, 1L);
        int count = numels.Count;
        var n = new long[count];
        var pn = new long[count];
        long total = 0;
        for (int i = 0; i < count; i++)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(numels[i]);
            n[i] = numels[i];
            pn[i] = checked((numels[i] + dpSize - 1) / dpSize);
            total = checked(total + pn[i]);
        }
        var sub = new int[count];
        var off = new long[count];
        var groups = new List<(int, int, long)>();
        if (count > 0)
        {
            bool single = subGroupSize >= total;
            int first = 0;
            long acc = 0;
            for (int i = 0; i < count; i++)
            {
                sub[i] = groups.Count;
                off[i] = acc;
                acc = checked(acc + pn[i]);
                if ((!single && acc >= subGroupSize) || i == count - 1)
                {
                    groups.Add((first, i - first + 1, acc));
                    first = i + 1;
                    acc = 0;
                }
            }
        }
        return new Zero3Partitioning(dpSize, n, pn, sub, off, groups);
    }
}
