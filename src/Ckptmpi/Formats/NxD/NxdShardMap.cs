using Ckptmpi.Errors;
using Ckptmpi.Model;
using Ckptmpi.Tensors.Views;

namespace Ckptmpi.Formats.NxD;

/// <summary>
/// Rows or columns of one canonical (HF) tensor inside a rank's tensor: <see cref="Box"/> of the canonical shape fills
/// the stored tensor's rows from <see cref="DestRow"/>. A column slice is always the only part of its tensor, so every
/// part is one contiguous run of the stored tensor's bytes.
/// </summary>
public sealed record NxdPart(string Tensor, Box Box, long DestRow);

/// <summary>
/// One key of a rank file: its shape and the canonical parts that fill it in order. A <see cref="Transposed"/> 2-D
/// tensor is stored column-major (strides <c>[1, rows]</c>), as the converter leaves o_proj after transposing it for
/// the query-head reorder; it has one part.
/// </summary>
public sealed record NxdEntry(string Key, long[] Shape, IReadOnlyList<NxdPart> Parts, bool Transposed = false);

/// <summary>One rank file: <c>model/dp_rank_00_tp_rank_TT_pp_rank_PP.pt</c> and its keys in NxDT's order.</summary>
public sealed record NxdRankFile(int Tp, int Pp, IReadOnlyList<NxdEntry> Entries)
{
    public string RelativePath => NxdPaths.RankFile(Tp, Pp);
}

/// <summary>
/// Every rank file of an NxDT checkpoint as a function of the model, the options and which optional tensors exist
/// (<c>rotary_emb.inv_freq</c> buffers, an untied <c>lm_head</c>): the one description both the writer and the reader
/// use, so that reading back is the exact inverse of writing. Key order is the converter's: the HF module order with
/// renamed keys in place, and the fused or megatron attention keys (which it pops and re-inserts) after everything else.
/// </summary>
public sealed class NxdShardMap
{
    private NxdShardMap(ModelConfig config, NxdAttention attention, int tp, int pp, IReadOnlyList<NxdRankFile> files)
    {
        Config = config;
        Attention = attention;
        Tp = tp;
        Pp = pp;
        Files = files;
    }

    public ModelConfig Config { get; }

    public NxdAttention Attention { get; }

    public int Tp { get; }

    public int Pp { get; }

    /// <summary>Rank files, pp-major then tp.</summary>
    public IReadOnlyList<NxdRankFile> Files { get; }

    /// <summary>The layers of pipeline stage <paramref name="stage"/>: NxD's create_partitions gives the last <c>L mod PP</c> stages one extra.</summary>
    public static (long First, long Count) StageLayers(long layers, int pp, int stage)
    {
        long baseCount = layers / pp, extra = layers % pp;
        long firstWithExtra = pp - extra;
        long first = stage * baseCount + Math.Max(0, stage - firstWithExtra);
        return (first, baseCount + (stage >= firstWithExtra ? 1 : 0));
    }

    /// <exception cref="UnsupportedCheckpointException">the options do not fit the model (names config.json and says what would).</exception>
    public static NxdShardMap Build(ModelConfig config, NxdOptions o, int tp, int pp, bool hasInvFreq, bool hasLmHead)
    {
        string cfg = config.Path;
        if (tp < 1 || pp < 1) throw new UnsupportedCheckpointException(cfg, $"--tp-size {tp} and --pp-size {pp} must be at least 1");
        if (o.NLayers is int n && n != config.NumHiddenLayers)
            throw new UnsupportedCheckpointException(cfg, $"--n-layers {n} contradicts config.json's num_hidden_layers {config.NumHiddenLayers}; fix --n-layers or pass the model's own --config");
        if (config.NumHiddenLayers < pp)
            throw new UnsupportedCheckpointException(cfg, $"--pp-size {pp} is more than the model's {config.NumHiddenLayers} layers");
        NxdAttention attention = NxdAttention.For(config, o, tp);
        if (config.VocabSize % tp != 0) throw new UnsupportedCheckpointException(cfg, $"--tp-size {tp} must divide vocab_size {config.VocabSize} (NxD shards embed_tokens and lm_head by rows without padding)");
        if (config.IntermediateSize % tp != 0) throw new UnsupportedCheckpointException(cfg, $"--tp-size {tp} must divide intermediate_size {config.IntermediateSize}");
        if (config.AttentionBias || config.MlpBias || config.Family != LlamaFamily.Llama)
            throw new UnsupportedCheckpointException(cfg, $"NxDT's Llama has no biases and no {config.Family.Name} layout; only Llama checkpoints without biases convert to NxDT");
        var b = new Builder(config, attention, o.ModelStyle, hasInvFreq, hasLmHead);
        var files = new List<NxdRankFile>(tp * pp);
        for (int p = 0; p < pp; p++)
        {
            (long first, long count) = StageLayers(config.NumHiddenLayers, pp, p);
            for (int t = 0; t < tp; t++) files.Add(new NxdRankFile(t, p, b.File(t, p == 0, p == pp - 1, first, count)));
        }
        return new NxdShardMap(config, attention, tp, pp, files);
    }

    /// <summary>Builds one rank file's entries.</summary>
    private sealed class Builder(ModelConfig c, NxdAttention a, NxdModelStyle style, bool hasInvFreq, bool hasLmHead)
    {
        private readonly bool _megatron = style == NxdModelStyle.Megatron;
        private long H => c.HiddenSize;
        private long D => c.HeadDim;

        public List<NxdEntry> File(int t, bool first, bool last, long firstLayer, long layers)
        {
            long tp = a.Tp;
            var entries = new List<NxdEntry>();
            var appended = new List<NxdEntry>();
            if (first) entries.Add(Rows(Name("model.embed_tokens.weight"), "model.embed_tokens.weight", c.VocabSize, H, [(t * c.VocabSize / tp, c.VocabSize / tp)]));
            for (long i = firstLayer; i < firstLayer + layers; i++)
            {
                string l = $"model.layers.{i}.";
                string attn = l + "self_attn.";
                string q = attn + "q_proj.weight", k = attn + "k_proj.weight", v = attn + "v_proj.weight";
                var qRows = a.QRuns(t).Select(r => (r.First * D, r.Count * D)).ToList();
                var kvRows = a.KvRuns(t).Select(r => (r.First * D, r.Count * D)).ToList();
                long qOut = c.NumAttentionHeads * D, kvOut = c.NumKeyValueHeads * D;
                switch (a.Keys)
                {
                    case NxdAttentionKeys.Separate:
                        entries.Add(Rows(Name(q), q, qOut, H, qRows));
                        entries.Add(Rows(Name(k), k, kvOut, H, kvRows));
                        entries.Add(Rows(Name(v), v, kvOut, H, kvRows));
                        break;
                    case NxdAttentionKeys.QkvLinear:
                        entries.Add(Rows(attn + "qkv_proj.weight_q", q, qOut, H, qRows));
                        entries.Add(Rows(attn + "qkv_proj.weight_k", k, kvOut, H, kvRows));
                        entries.Add(Rows(attn + "qkv_proj.weight_v", v, kvOut, H, kvRows));
                        break;
                    case NxdAttentionKeys.QkvLinearFused:
                        appended.Add(Concat(attn + "qkv_proj.weight_qkv", H, (q, qOut, qRows), (k, kvOut, kvRows), (v, kvOut, kvRows)));
                        break;
                    case NxdAttentionKeys.Coalesced:
                        appended.Add(Concat(attn + "qkv_proj.weight", H, (q, qOut, qRows), (k, kvOut, kvRows), (v, kvOut, kvRows)));
                        break;
                    case NxdAttentionKeys.MegatronQueryKeyValue:
                        appended.Add(Concat(Name(attn + "query_key_value.weight"), H, (q, qOut, qRows), (k, kvOut, kvRows), (v, kvOut, kvRows)));
                        break;
                    case NxdAttentionKeys.MegatronQueryAndKeyValue:
                        appended.Add(Concat(Name(attn + "query.weight"), H, (q, qOut, qRows)));
                        appended.Add(Concat(Name(attn + "key_value.weight"), H, (k, kvOut, kvRows), (v, kvOut, kvRows)));
                        break;
                }
                // o_proj's input columns follow the query heads of the rank.
                var (c0, cn) = qRows.Count == 1 ? qRows[0] : throw new InvalidOperationException("o_proj columns must be one block");
                string o = attn + "o_proj.weight";
                // With --qkv-linear the converter permutes o_proj's transpose and keeps that storage.
                bool transposed = !_megatron && a.Keys is NxdAttentionKeys.QkvLinear or NxdAttentionKeys.QkvLinearFused;
                entries.Add(new NxdEntry(Name(o), [H, cn], [new NxdPart(o, new Box([0, c0], [H, cn]), 0)], transposed));
                long inter = c.IntermediateSize, ip = inter / tp;
                string gate = l + "mlp.gate_proj.weight", up = l + "mlp.up_proj.weight", down = l + "mlp.down_proj.weight";
                entries.Add(Concat(Name(l + "mlp.gate_up_proj.weight"), H, (gate, inter, [(t * ip, ip)]), (up, inter, [(t * ip, ip)])));
                entries.Add(new NxdEntry(Name(down), [H, ip], [new NxdPart(down, new Box([0, t * ip], [H, ip]), 0)]));
                entries.Add(Whole(l + "input_layernorm.weight", H));
                entries.Add(Whole(l + "post_attention_layernorm.weight", H));
                if (hasInvFreq) entries.Add(Whole(attn + "rotary_emb.inv_freq", D / 2));
            }
            if (last)
            {
                entries.Add(Whole("model.norm.weight", H));
                if (hasLmHead) entries.Add(Rows(Name("lm_head.weight"), "lm_head.weight", c.VocabSize, H, [(t * c.VocabSize / tp, c.VocabSize / tp)]));
            }
            entries.AddRange(appended);
            return entries;
        }

        private NxdEntry Whole(string tensor, long n) => new(Name(tensor), [n], [new NxdPart(tensor, Box.Full([n]), 0)]);

        private static NxdEntry Rows(string key, string tensor, long rows, long cols, IReadOnlyList<(long Start, long Count)> runs) =>
            Concat(key, cols, (tensor, rows, runs));

        private static NxdEntry Concat(string key, long cols, params (string Tensor, long Rows, IReadOnlyList<(long Start, long Count)> Runs)[] sources)
        {
            var parts = new List<NxdPart>();
            long at = 0;
            foreach (var (tensor, _, runs) in sources)
            {
                foreach (var (start, count) in runs)
                {
                    parts.Add(new NxdPart(tensor, new Box([start, 0], [count, cols]), at));
                    at += count;
                }
            }
            return new NxdEntry(key, [at, cols], parts);
        }

        /// <summary>The NxDT key for an HF-style key: itself, or the megatron rename.</summary>
        private string Name(string hfKey) => _megatron ? NxdPaths.MegatronName(hfKey) : hfKey;
    }
}
