using Ckptmpi.Formats.DeepSpeed;
using Ckptmpi.Tensors.Layout;
using static Ckptmpi.Formats.MegaDs.MegaDsLayout;

namespace Ckptmpi.Formats.MegaDs;

/// <summary>
/// The HuggingFace Llama tensors of a Megatron-DeepSpeed checkpoint, merged over the tensor ranks: fused QKV split
/// back into q/k/v (per KV head: its query heads, then its key, then its value), fused SwiGLU split into gate and up
/// (each tensor rank's first half is its gate rows), row-parallel weights (attention dense, 4h-to-h) joined along
/// columns, column-parallel ones along rows, the padded vocabulary rows dropped, norms taken from tensor rank 0
/// (every rank holds the same).
/// </summary>
internal static class HfFromMegaDs
{
    private const string HfEmbedTokens = "model.embed_tokens.weight", HfLmHead = "lm_head.weight";

    /// <summary>The HF tensors, each name followed by <paramref name="suffix"/> (<c>.exp_avg</c> for the Adam moments, laid out as the weights).</summary>
    public static List<SourceTensor> Build(MegaDsModel m, Dictionary<(int Layer, string Name), LocalShard[]> shards, string suffix = "")
    {
        var tensors = new List<SourceTensor>();
        void Add(string name, long[] shape, List<SourcePiece> pieces, LocalShard[] from) =>
            tensors.Add(new SourceTensor(name + suffix, from[0].StoredDType, shape, pieces));

        LocalShard[] embed = shards[(m.EmbedLayer, WordEmbeddings)];
        Add(HfEmbedTokens, [m.Vocab, m.Hidden], Vocab(m, embed), embed);
        for (int i = 0; i < m.Layers; i++)
        {
            int layer = m.TransformerLayer(i);
            string p = $"model.layers.{i}.";
            Add(p + "input_layernorm.weight", [m.Hidden], Replicated(shards[(layer, InputNorm)]), shards[(layer, InputNorm)]);
            LocalShard[] qkv = shards[(layer, Qkv)];
            int qPerKv = m.Heads / m.KvHeads;
            Add(p + "self_attn.q_proj.weight", [(long)m.Heads * m.HeadDim, m.Hidden], QkvPart(m, qkv, 0, qPerKv), qkv);
            Add(p + "self_attn.k_proj.weight", [(long)m.KvHeads * m.HeadDim, m.Hidden], QkvPart(m, qkv, qPerKv, 1), qkv);
            Add(p + "self_attn.v_proj.weight", [(long)m.KvHeads * m.HeadDim, m.Hidden], QkvPart(m, qkv, qPerKv + 1, 1), qkv);
            Add(p + "self_attn.o_proj.weight", [m.Hidden, (long)m.Heads * m.HeadDim], RowParallel(shards[(layer, Dense)]), shards[(layer, Dense)]);
            Add(p + "post_attention_layernorm.weight", [m.Hidden], Replicated(shards[(layer, PostNorm)]), shards[(layer, PostNorm)]);
            LocalShard[] h4h = shards[(layer, H4h)];
            Add(p + "mlp.gate_proj.weight", [m.Ffn, m.Hidden], SwiGluHalf(m, h4h, 0), h4h);
            Add(p + "mlp.up_proj.weight", [m.Ffn, m.Hidden], SwiGluHalf(m, h4h, 1), h4h);
            Add(p + "mlp.down_proj.weight", [m.Hidden, m.Ffn], RowParallel(shards[(layer, FourHToH)]), shards[(layer, FourHToH)]);
        }
        Add("model.norm.weight", [m.Hidden], Replicated(shards[(m.NormLayer, FinalNorm)]), shards[(m.NormLayer, FinalNorm)]);
        if (!m.Tied)
        {
            LocalShard[] head = shards[(m.HeadLayer, LmHead)];
            Add(HfLmHead, [m.Vocab, m.Hidden], Vocab(m, head), head);
        }
        return tensors;
    }

    /// <summary>
    /// A torch Adam's per-parameter step (a 0-dim tensor) under every HF name the parameter becomes (q, k and v share
    /// the fused QKV's), from tensor rank 0.
    /// </summary>
    public static List<SourceTensor> Steps(MegaDsModel m, Dictionary<(int Layer, string Name), LocalShard[]> steps, IEnumerable<string> weightNames, string suffix)
    {
        var tensors = new List<SourceTensor>();
        foreach (string name in weightNames)
        {
            SourcePiece p = steps[Origin(m, name)][0].Runs[0];
            tensors.Add(new SourceTensor(name + suffix, p.StoredDType, [], [new SourcePiece(0, 1, p.File, p.ByteOffset, p.StoredDType)]));
        }
        return tensors;
    }

    private static (int Layer, string Local) Origin(MegaDsModel m, string hf)
    {
        if (hf == HfEmbedTokens) return (m.EmbedLayer, WordEmbeddings);
        if (hf == HfLmHead) return (m.HeadLayer, LmHead);
        if (hf == "model.norm.weight") return (m.NormLayer, FinalNorm);
        string[] parts = hf.Split('.');
        int layer = m.TransformerLayer(int.Parse(parts[2], System.Globalization.CultureInfo.InvariantCulture));
        string local = parts[3] switch
        {
            "input_layernorm" => InputNorm,
            "post_attention_layernorm" => PostNorm,
            "self_attn" => parts[4] == "o_proj" ? Dense : Qkv,
            _ => parts[4] == "down_proj" ? FourHToH : H4h,
        };
        return (layer, local);
    }

    /// <summary>The vocabulary rows below <see cref="MegaDsModel.Vocab"/>; tensor rank t holds rows <c>[t * Vp / tp, (t + 1) * Vp / tp)</c>.</summary>
    private static List<SourcePiece> Vocab(MegaDsModel m, LocalShard[] shards)
    {
        var pieces = new List<SourcePiece>();
        long rows = m.PaddedVocab / m.Tp;
        for (int t = 0; t < m.Tp; t++)
        {
            long real = RealRows(m, t);
            ShardMerge.Flat(shards[t], 0, real * m.Hidden, t * rows * m.Hidden, pieces);
        }
        return pieces;
    }

    /// <summary>How many of tensor rank t's vocabulary rows are real (not padding).</summary>
    public static long RealRows(MegaDsModel m, int t)
    {
        long rows = m.PaddedVocab / m.Tp;
        return Math.Clamp(m.Vocab - t * rows, 0, rows);
    }

    private static List<SourcePiece> Replicated(LocalShard[] shards)
    {
        var pieces = new List<SourcePiece>();
        ShardMerge.Flat(shards[0], 0, shards[0].ElementCount, 0, pieces);
        return pieces;
    }

    /// <summary>
    /// Rows <c>[first * hd, (first + count) * hd)</c> of every KV group of the fused QKV: each group is one block of
    /// the HF tensor seen as <c>[kv_heads, count * hd * hidden]</c>.
    /// </summary>
    private static List<SourcePiece> QkvPart(MegaDsModel m, LocalShard[] shards, int first, int count)
    {
        var pieces = new List<SourcePiece>();
        int groups = m.KvHeads / m.Tp, perGroup = m.Heads / m.KvHeads + 2;
        long row = (long)m.HeadDim * m.Hidden;
        for (int t = 0; t < m.Tp; t++)
        {
            for (int g = 0; g < groups; g++)
                ShardMerge.Block(shards[t], (g * perGroup + first) * row, count * row, t * groups + g, m.KvHeads, pieces);
        }
        return pieces;
    }

    /// <summary>Gate (half 0) or up (half 1) of the fused dense_h_to_4h: tensor rank t's block of <c>[tp, ffn / tp * hidden]</c>.</summary>
    private static List<SourcePiece> SwiGluHalf(MegaDsModel m, LocalShard[] shards, int half)
    {
        var pieces = new List<SourcePiece>();
        long block = (long)m.Ffn / m.Tp * m.Hidden;
        for (int t = 0; t < m.Tp; t++) ShardMerge.Block(shards[t], half * block, block, t, m.Tp, pieces);
        return pieces;
    }

    private static List<SourcePiece> RowParallel(LocalShard[] shards)
    {
        var pieces = new List<SourcePiece>();
        for (int t = 0; t < shards.Length; t++) ShardMerge.Columns(shards[t], t, shards.Length, pieces);
        return pieces;
    }
}
