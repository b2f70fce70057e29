using Ckptmpi.Formats.MegaDs;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Tests.Formats.MegaDs;

/// <summary>
/// The pieces of a merge, element by element, where ZeRO partitions cut a shard at arbitrary elements (mid-row of a
/// row-parallel weight, inside a KV head's block): every HF element comes from exactly the stored local element the
/// layout says, and the piece count stays a few per run.
/// </summary>
public sealed class ShardMergeTests
{
    // Each local element is stored at byte 4 * (its index) + 1000 * run, so a piece's byte offset names its local element.
    private static LocalShard Cut(long[] shape, params long[] cuts)
    {
        long n = DTypes.ElementCount(shape);
        long[] bounds = [0, .. cuts, n];
        var runs = new List<SourcePiece>();
        for (int i = 0; i + 1 < bounds.Length; i++)
            runs.Add(new SourcePiece(bounds[i], bounds[i + 1] - bounds[i], $"run{i}", 1000L * i + 4 * bounds[i], DType.F32));
        return new LocalShard("test", shape, runs);
    }

    /// <summary>HF flat index -> local element, from the pieces alone.</summary>
    private static Dictionary<long, long> Elements(IReadOnlyList<long> hfShape, List<SourcePiece> pieces)
    {
        var map = new Dictionary<long, long>();
        foreach (SourcePiece p in pieces)
        {
            int run = int.Parse(p.File[3..], System.Globalization.CultureInfo.InvariantCulture);
            long firstLocal = (p.ByteOffset - 1000L * run) / 4;
            long[] split = p.SplitOf(DTypes.ElementCount(hfShape.ToArray()));
            long[] strides = Ckptmpi.Tensors.Views.TensorView.RowMajorStrides(split);
            long k = 0;
            foreach (long[] idx in Indices(p.Box.Start, p.Box.Length))
            {
                long flat = 0;
                for (int a = 0; a < idx.Length; a++) flat += idx[a] * strides[a];
                Assert.That(map.TryAdd(flat, firstLocal + k++), Is.True, $"HF element {flat} covered twice");
            }
        }
        return map;
    }

    private static IEnumerable<long[]> Indices(long[] start, long[] length)
    {
        if (length.Any(l => l == 0)) yield break;
        var idx = (long[])start.Clone();
        while (true)
        {
            yield return (long[])idx.Clone();
            int a = idx.Length - 1;
            while (a >= 0 && ++idx[a] == start[a] + length[a]) { idx[a] = start[a]; a--; }
            if (a < 0) yield break;
        }
    }

    [Test]
    public void Row_parallel_shards_cut_mid_row_map_every_element()
    {
        const int rows = 5, cols = 7, tp = 3;
        var pieces = new List<SourcePiece>();
        var shards = new[] { Cut([rows, cols], 9, 17), Cut([rows, cols], 3), Cut([rows, cols]) };
        for (int t = 0; t < tp; t++) ShardMerge.Columns(shards[t], t, tp, pieces);
        Dictionary<long, long> map = Elements([rows, tp * cols], pieces);
        Assert.That(map, Has.Count.EqualTo(rows * tp * cols));
        for (int t = 0; t < tp; t++)
        for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
        {
            long hf = r * tp * cols + t * cols + c;
            Assert.That(map[hf], Is.EqualTo(r * cols + c), $"tp {t} row {r} col {c}");
        }
        // A cut run is a partial row, whole rows and a partial row: at most three boxes per run.
        Assert.That(pieces, Has.Count.LessThanOrEqualTo(3 * 4));
    }

    [Test]
    public void Kv_head_blocks_cut_inside_a_head_map_every_element()
    {
        // Fused QKV of one tensor rank with 2 KV groups of (2 q + k + v) heads, hd 2, hidden 3: q of group g is
        // block g of q_proj seen as [kv_heads, 2 * hd * hidden].
        const int hd = 2, hidden = 3, groups = 2, perGroup = 4;
        LocalShard shard = Cut([groups * perGroup * hd, hidden], 5, 29);
        var q = new List<SourcePiece>();
        long row = hd * hidden;
        for (int g = 0; g < groups; g++) ShardMerge.Block(shard, g * perGroup * row, 2 * row, g, groups, q);
        Dictionary<long, long> map = Elements([groups * 2 * hd, hidden], q);
        Assert.That(map, Has.Count.EqualTo(groups * 2 * row));
        for (int g = 0; g < groups; g++)
        for (long e = 0; e < 2 * row; e++)
            Assert.That(map[g * 2 * row + e], Is.EqualTo(g * perGroup * row + e));
    }
}
