using Ckptmpi.Tensors.Views;

namespace Ckptmpi.Formats.Meta;

/// <summary>
/// One box of an HF canonical tensor that a shard stores: the tensor seen through <see cref="Split"/>, box
/// <see cref="Box"/> of it, with record axis i being split axis <see cref="Permutation"/>[i], at box
/// <see cref="Destination"/> of the shard's record (<see cref="MetaShardTensor.RecordShape"/>).
/// <see cref="DeclaredHead"/> is the KV head index params.json counts (-1 for other tensors); it is a replica when
/// not the first of its group.
/// </summary>
public sealed record MetaShardPart(long[] Split, Box Box, int[] Permutation, Box Destination, long DeclaredHead)
{
    public bool IsReplica(int replicas) => DeclaredHead >= 0 && DeclaredHead % replicas != 0;
}

/// <summary>
/// A tensor as one shard stores it: the shape in its pickle (<see cref="LocalShape"/>), the same bytes as a finer
/// row-major <see cref="RecordShape"/> in which the rotary order is an axis swap, and the parts that fill it.
/// </summary>
public sealed record MetaShardTensor(MetaTensor Tensor, int Shard, long[] LocalShape, long[] RecordShape, IReadOnlyList<MetaShardPart> Parts);

/// <summary>
/// Where each element of each HF tensor sits in Meta's MP shards: the same description serves the reader (box
/// pieces of the catalog) and the writer (view records), so the two are inverse by construction. The rotary order
/// is the axis swap of <c>[heads, 2, d/2, h]</c> (HF halves) and <c>[heads, d/2, 2, h]</c> (Meta's interleaved pairs):
/// one box per shard, never one piece per row. Duplicated KV heads are repeated in place (shard heads
/// <c>[0, 0, 1, 1]</c>), as Meta's resharder produces them from one head per old shard.
/// </summary>
public static class MetaShardGeometry
{
    private static readonly int[] RotarySwap = [0, 2, 1, 3];

    /// <summary>Why <paramref name="mp"/> cannot cut <paramref name="m"/>; null when it can.</summary>
    public static string? Refusal(MetaModel m, int mp)
    {
        if (mp < 1) return $"MP {mp} is not positive";
        if (m.Heads % mp != 0) return $"{m.Heads} query heads do not split over MP {mp}";
        if (m.DeclaredKvHeads % mp != 0) return $"{m.DeclaredKvHeads} KV heads do not split over MP {mp}";
        if (m.FfnDim % mp != 0) return $"the FFN width {m.FfnDim} does not split over MP {mp}";
        if (m.Vocab % mp != 0) return $"the vocabulary {m.Vocab} does not split over MP {mp}";
        if (m.Dim % mp != 0) return $"dim {m.Dim} does not split over MP {mp}";
        return null;
    }

    public static MetaShardTensor For(MetaModel m, MetaTensor t, int mp, int shard)
    {
        long d = m.HeadDim, h = m.Dim;
        switch (t.Split)
        {
            case MetaSplit.Replicated:
                return new(t, shard, t.Shape, t.Shape, [Whole(t.Shape)]);
            case MetaSplit.Rows:
            case MetaSplit.Columns:
            case MetaSplit.Embedding:
            {
                int axis = t.Split switch { MetaSplit.Rows => 0, MetaSplit.Columns => 1, _ => m.EmbeddingSplitDim };
                long[] local = (long[])t.Shape.Clone();
                local[axis] /= mp;
                long[] start = new long[2];
                start[axis] = shard * local[axis];
                return new(t, shard, local, local, [new MetaShardPart(t.Shape, new Box(start, local), [0, 1], Box.Full(local), -1)]);
            }
            case MetaSplit.Query:
            {
                long heads = m.Heads / mp;
                long[] record = [heads, d / 2, 2, h];
                var box = new Box([shard * heads, 0, 0, 0], [heads, 2, d / 2, h]);
                return new(t, shard, [heads * d, h], record, [new MetaShardPart([m.Heads, 2, d / 2, h], box, RotarySwap, Box.Full(record), -1)]);
            }
            default:
            {
                bool rotary = t.Split == MetaSplit.Key;
                long local = m.DeclaredKvHeads / mp;
                long[] split = rotary ? [m.KvHeads, 2, d / 2, h] : [m.KvHeads, d, h];
                long[] record = rotary ? [local, d / 2, 2, h] : [local, d, h];
                int[] perm = rotary ? RotarySwap : [0, 1, 2];
                var parts = new List<MetaShardPart>();
                // Without duplicates a shard's heads are one box; with them each declared head is its own part.
                long per = m.KvReplicas == 1 ? local : 1;
                for (long l = 0; l < local; l += per)
                {
                    long declared = shard * local + l;
                    long[] boxStart = new long[split.Length], boxLength = (long[])split.Clone();
                    boxStart[0] = declared / m.KvReplicas;
                    boxLength[0] = per;
                    long[] destStart = new long[record.Length], destLength = (long[])record.Clone();
                    destStart[0] = l;
                    destLength[0] = per;
                    parts.Add(new MetaShardPart(split, new Box(boxStart, boxLength), perm, new Box(destStart, destLength), m.KvReplicas == 1 ? -1 : declared));
                }
                return new(t, shard, [local * d, h], record, parts);
            }
        }
    }

    private static MetaShardPart Whole(long[] shape) => new(shape, Box.Full(shape), Enumerable.Range(0, shape.Length).ToArray(), Box.Full(shape), -1);
}
