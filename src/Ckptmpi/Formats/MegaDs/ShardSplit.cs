using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;
using Ckptmpi.Tensors.Views;
using static Ckptmpi.Formats.MegaDs.MegaDsLayout;

namespace Ckptmpi.Formats.MegaDs;

/// <summary>A run of local elements <c>[LocalStart, LocalStart + Count)</c> of one tensor rank's shard and where its values come from.</summary>
internal abstract record ShardRun(long LocalStart, long Count);

/// <summary>HF elements <c>[HfFirst, HfFirst + Count)</c> of <see cref="Tensor"/>, in order (vocabulary rows, a KV group's q/k/v rows, gate or up rows, norms).</summary>
internal sealed record FlatRun(long LocalStart, long Count, string Tensor, long HfFirst) : ShardRun(LocalStart, Count);

/// <summary>Tensor rank <see cref="T"/>'s column block of the HF <c>[Rows, Cols]</c> tensor: the whole row-parallel shard <c>[Rows, Cols / Tp]</c>.</summary>
internal sealed record ColumnRun(long LocalStart, long Count, string Tensor, long Rows, long Cols, int Tp, int T) : ShardRun(LocalStart, Count);

/// <summary>Padded vocabulary rows left zero (--vocab-padding zero; what a universal checkpoint load gives).</summary>
internal sealed record ZeroRun(long LocalStart, long Count) : ShardRun(LocalStart, Count);

/// <summary>Padded vocabulary rows: each the mean of the <see cref="VocabRows"/> real rows of the HF <c>[VocabRows, Hidden]</c> tensor.</summary>
internal sealed record MeanRun(long LocalStart, long Count, string Tensor, long VocabRows, long Hidden) : ShardRun(LocalStart, Count);

/// <summary>
/// The inverse of <see cref="HfFromMegaDs"/>: which HF elements make up each tensor rank's shard of each Megatron
/// parameter (fused QKV per KV group: its query heads, its key, its value; fused SwiGLU: the rank's gate rows then its
/// up rows; row-parallel weights: a column block; the vocabulary: the rank's rows, the padding the mean of the real
/// rows, as Megatron-DeepSpeed's own HF converter fills it), and the output segments of any run of a shard's elements.
/// </summary>
internal static class ShardSplit
{
    public const string HfEmbedTokens = "model.embed_tokens.weight", HfLmHead = "lm_head.weight", HfNorm = "model.norm.weight";

    /// <summary>The runs of tensor rank <paramref name="t"/>'s shard of parameter <paramref name="local"/> of pipeline layer <paramref name="layer"/>.</summary>
    public static List<ShardRun> Runs(MegaDsModel m, int layer, string local, int t, bool meanPadding = true)
    {
        long h = m.Hidden;
        if (layer == m.EmbedLayer) return Vocab(m, HfEmbedTokens, t, meanPadding);
        if (!m.Tied && layer == m.HeadLayer) return Vocab(m, HfLmHead, t, meanPadding);
        if (layer == m.NormLayer) return [new FlatRun(0, h, HfNorm, 0)];
        string p = $"model.layers.{(layer - m.TransformerLayer(0)).ToString(System.Globalization.CultureInfo.InvariantCulture)}.";
        switch (local)
        {
            case InputNorm: return [new FlatRun(0, h, p + "input_layernorm.weight", 0)];
            case PostNorm: return [new FlatRun(0, h, p + "post_attention_layernorm.weight", 0)];
            case Qkv:
            {
                var runs = new List<ShardRun>();
                int groups = m.KvHeads / m.Tp, qPerKv = m.Heads / m.KvHeads;
                long head = (long)m.HeadDim * h, at = 0;
                for (int g = 0; g < groups; g++)
                {
                    long kv = (long)t * groups + g;
                    runs.Add(new FlatRun(at, qPerKv * head, p + "self_attn.q_proj.weight", kv * qPerKv * head));
                    at += qPerKv * head;
                    runs.Add(new FlatRun(at, head, p + "self_attn.k_proj.weight", kv * head));
                    at += head;
                    runs.Add(new FlatRun(at, head, p + "self_attn.v_proj.weight", kv * head));
                    at += head;
                }
                return runs;
            }
            case Dense: return [Columns(m, p + "self_attn.o_proj.weight", h, (long)m.Heads * m.HeadDim, t)];
            case H4h:
            {
                long block = (long)m.Ffn / m.Tp * h;
                return [new FlatRun(0, block, p + "mlp.gate_proj.weight", t * block), new FlatRun(block, block, p + "mlp.up_proj.weight", t * block)];
            }
            case FourHToH: return [Columns(m, p + "mlp.down_proj.weight", h, m.Ffn, t)];
            default: throw new ArgumentException($"no parameter '{local}' in pipeline layer {layer}");
        }
    }

    /// <summary>
    /// The same runs over the HF tensors named <c>{name}{suffix}</c> (the Adam moments, laid out as the weights); padded
    /// vocabulary rows stay zero, as a universal checkpoint load leaves every state of them.
    /// </summary>
    public static List<ShardRun> Suffixed(IEnumerable<ShardRun> runs, string suffix) => runs.Select(r => r switch
    {
        FlatRun f => f with { Tensor = f.Tensor + suffix },
        ColumnRun c => c with { Tensor = c.Tensor + suffix },
        ZeroRun z => (ShardRun)z,
        _ => throw new ArgumentException($"{r.GetType().Name}: a trained state's padded rows are written as zeros"),
    }).ToList();

    /// <summary>The HF tensor a parameter's shard starts with (the one whose per-parameter state stands for the parameter).</summary>
    public static string FirstTensor(MegaDsModel m, int layer, string local) =>
        Runs(m, layer, local, 0, meanPadding: false).Select(r => r switch { FlatRun f => f.Tensor, ColumnRun c => c.Tensor, _ => null }).First(n => n is not null)!;

    private static ShardRun Columns(MegaDsModel m, string tensor, long rows, long cols, int t) =>
        m.Tp == 1 ? new FlatRun(0, rows * cols, tensor, 0) : new ColumnRun(0, rows * cols / m.Tp, tensor, rows, cols, m.Tp, t);

    private static List<ShardRun> Vocab(MegaDsModel m, string tensor, int t, bool meanPadding)
    {
        long rows = m.PaddedVocab / m.Tp, real = HfFromMegaDs.RealRows(m, t), h = m.Hidden;
        var runs = new List<ShardRun>();
        if (real > 0) runs.Add(new FlatRun(0, real * h, tensor, t * rows * h));
        if (real < rows) runs.Add(meanPadding ? new MeanRun(real * h, (rows - real) * h, tensor, m.Vocab, h) : new ZeroRun(real * h, (rows - real) * h));
        return runs;
    }

    /// <summary>
    /// The segments that write local elements <c>[start, start + count)</c> of a shard as <paramref name="dtype"/> from
    /// byte <paramref name="at"/> on; <paramref name="heldIn"/> is the dtype the padded rows' mean is rounded through
    /// (the training dtype: the fp32 masters copy the bf16 weights).
    /// </summary>
    public static long Emit(IReadOnlyList<ShardRun> runs, long start, long count, DType dtype, DType heldIn, long at, List<OutputSegment> into)
    {
        int size = dtype.SizeInBytes();
        foreach (ShardRun run in runs)
        {
            long lo = Math.Max(start, run.LocalStart), hi = Math.Min(start + count, run.LocalStart + run.Count);
            if (lo >= hi) continue;
            long rel = lo - run.LocalStart, n = hi - lo;
            switch (run)
            {
                case FlatRun f:
                    into.Add(new TensorSegment(at, f.Tensor, f.HfFirst + rel, n, dtype));
                    at += n * size;
                    break;
                case ColumnRun c:
                {
                    long width = c.Cols / c.Tp;
                    long[] local = [c.Rows, width];
                    for (long e = rel; e < rel + n;)
                    {
                        (Box slab, long elements) = SplitShapes.FirstBlock(local, e, rel + n);
                        long[] shape = [slab.Length[0], 1, slab.Length[1]];
                        var part = new ViewPart(c.Tensor, [c.Rows, c.Tp, width], new Box([slab.Start[0], c.T, slab.Start[1]], shape), [0, 1, 2], Box.Full(shape));
                        into.Add(new ViewSegment(at, shape, dtype, TensorOp.Copy, [part]));
                        at += elements * size;
                        e += elements;
                    }
                    break;
                }
                case ZeroRun:
                    into.Add(new ZeroSegment(at, n * size));
                    at += n * size;
                    break;
                case MeanRun mr:
                    at = Means(mr, rel, n, dtype, heldIn, at, into);
                    break;
            }
        }
        return at;
    }

    /// <summary>Padded elements <c>[rel, rel + n)</c>: a part-row, whole rows (one record repeating the mean), a part-row.</summary>
    private static long Means(MeanRun r, long rel, long n, DType dtype, DType heldIn, long at, List<OutputSegment> into)
    {
        long h = r.Hidden, end = rel + n;
        void Add(long col, long cols, long repeat)
        {
            long[] shape = [r.VocabRows, cols];
            var part = new ViewPart(r.Tensor, [r.VocabRows, h], new Box([0, col], shape), [0, 1], Box.Full(shape));
            var seg = new ViewSegment(at, shape, dtype, TensorOp.MeanRows(repeat, heldIn), [part]);
            into.Add(seg);
            at = seg.End;
        }
        while (rel < end)
        {
            long col = rel % h;
            if (col != 0 || end - rel < h)
            {
                long cols = Math.Min(h - col, end - rel);
                Add(col, cols, 1);
                rel += cols;
            }
            else
            {
                long rows = (end - rel) / h;
                Add(0, h, rows);
                rel += rows * h;
            }
        }
        return at;
    }
}
