using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;
using Ckptmpi.Tensors.Views;

namespace Ckptmpi.Formats.MegaDs;

/// <summary>
/// How the shards of the tensor ranks make up one HuggingFace tensor, as source pieces: each a box of a split shape
/// of the HF tensor (never one piece per row). Column-parallel blocks (fused QKV per KV head, gate and up of the fused
/// SwiGLU, vocabulary rows) are contiguous in both the shard and the HF tensor; a row-parallel shard is a box of
/// <c>[rows, tp, cols / tp]</c>, cut into at most three boxes where a ZeRO partition boundary splits it mid-row.
/// </summary>
internal static class ShardMerge
{
    /// <summary>
    /// Local elements <c>[start, start + count)</c> of <paramref name="shard"/> are row <paramref name="block"/> of the HF tensor in the split
    /// shape <c>[blocks, count]</c> (a block per KV head, per tensor rank, ...).
    /// </summary>
    public static void Block(LocalShard shard, long start, long count, long block, long blocks, List<SourcePiece> into)
    {
        long[] split = [blocks, count];
        foreach (var (rel, n, file, offset, stored) in shard.Slice(start, count))
            into.Add(new SourcePiece(file, offset, stored, new Box([block, rel], [1, n]), split, null));
    }

    /// <summary>Local elements <c>[start, start + count)</c> are HF elements from <paramref name="hfStart"/> on (a flat run; vocabulary rows).</summary>
    public static void Flat(LocalShard shard, long start, long count, long hfStart, List<SourcePiece> into)
    {
        foreach (var (rel, n, file, offset, stored) in shard.Slice(start, count))
            into.Add(new SourcePiece(hfStart + rel, n, file, offset, stored));
    }

    /// <summary>A row-parallel shard <c>[rows, cols]</c> of tensor rank <paramref name="tpRank"/>: HF columns <c>[tpRank * cols, (tpRank + 1) * cols)</c>.</summary>
    public static void Columns(LocalShard shard, int tpRank, int tp, List<SourcePiece> into)
    {
        long rows = shard.Shape[0], cols = shard.Shape[1];
        long[] local = [rows, cols], split = [rows, tp, cols];
        foreach (var (rel, n, file, offset, stored) in shard.Slice(0, shard.ElementCount))
        {
            long at = rel, end = rel + n, bytes = offset;
            while (at < end)
            {
                (Box slab, long elements) = SplitShapes.FirstBlock(local, at, end);
                into.Add(new SourcePiece(file, bytes, stored,
                    new Box([slab.Start[0], tpRank, slab.Start[1]], [slab.Length[0], 1, slab.Length[1]]), split, null));
                at += elements;
                bytes += elements * stored.SizeInBytes();
            }
        }
    }
}
