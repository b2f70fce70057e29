using Ckptmpi.Errors;

namespace Ckptmpi.Model;

/// <summary>
/// Falcon (<c>FalconForCausalLM</c>), as transformers 4.46 registers it: <c>transformer.word_embeddings [V, h]</c>; per
/// layer <c>self_attention.query_key_value</c>, <c>self_attention.dense [h, h]</c>, <c>mlp.dense_h_to_4h [F, h]</c>,
/// <c>mlp.dense_4h_to_h [h, F]</c> (biases when <c>bias</c>), then the layer norms, which depend on the decoder flags:
/// sequential blocks (<c>parallel_attn</c> false) register <c>post_attention_layernorm</c> before <c>input_layernorm</c>;
/// parallel blocks have <c>ln_attn</c>, <c>ln_mlp</c> when <c>num_ln_in_parallel_attn</c> is 2 (its default with
/// <c>new_decoder_architecture</c>), else <c>input_layernorm</c> alone; <c>transformer.ln_f</c>; <c>lm_head.weight</c>
/// unless tied (tied by default). The fused projection is <c>(2*nkv + nq)*d</c> rows with the new decoder
/// architecture, <c>h + 2*d</c> with <c>multi_query</c>, else <c>3h</c>.
/// </summary>
public sealed class FalconFamily : IModelFamily
{
    public static FalconFamily Instance { get; } = new();

    private FalconFamily() { }

    public string Name => "falcon";

    public IReadOnlyList<string> Architectures { get; } = ["FalconForCausalLM"];

    public TiedWeights Tied { get; } = new("lm_head.weight", "transformer.word_embeddings.weight");

    public ModelConfig Read(ConfigJson keys)
    {
        long h = keys.Required("hidden_size", "n_embed");
        long heads = keys.Required("num_attention_heads", "n_head");
        if (h % heads != 0)
            throw new CheckpointFormatException(keys.Path, null, $"hidden_size {h} is not a multiple of num_attention_heads {heads}");
        bool bias = keys.OptionalBool("bias") ?? false;
        long? lns = keys.Optional("num_ln_in_parallel_attn");
        if (lns is not (null or 1 or 2))
            throw new CheckpointFormatException(keys.Path, null, $"'num_ln_in_parallel_attn' is {lns}; it must be 1 or 2");
        return new ModelConfig
        {
            Path = keys.Path,
            Family = this,
            HiddenSize = h,
            IntermediateSize = keys.Optional("ffn_hidden_size") ?? checked(4 * h),
            NumHiddenLayers = keys.Required(0, "num_hidden_layers", "n_layer"),
            NumAttentionHeads = heads,
            NumKeyValueHeads = keys.Optional("num_kv_heads", "n_head_kv") ?? heads,
            HeadDim = h / heads,
            VocabSize = keys.Required("vocab_size"),
            TieWordEmbeddings = keys.OptionalBool("tie_word_embeddings") ?? true,
            AttentionBias = bias,
            MlpBias = bias,
            ParallelAttention = keys.OptionalBool("parallel_attn") ?? true,
            NewDecoderArchitecture = keys.OptionalBool("new_decoder_architecture") ?? false,
            MultiQuery = keys.OptionalBool("multi_query") ?? true,
            NumLnInParallelAttn = lns,
        };
    }

    /// <summary>Rotary <c>inv_freq</c> buffers that old exports saved.</summary>
    public bool IsBuffer(string tensorName) => tensorName.EndsWith(".rotary_emb.inv_freq", StringComparison.Ordinal);

    public IReadOnlyList<CanonicalTensor> CanonicalTensors(ModelConfig config)
    {
        FamilyCheck.Owns(this, config);
        long h = config.HiddenSize, ffn = config.IntermediateSize, vocab = config.VocabSize, d = config.HeadDim;
        long qkvOut = config.NewDecoderArchitecture ? checked((2 * config.NumKeyValueHeads + config.NumAttentionHeads) * d)
            : config.MultiQuery ? checked(h + 2 * d) : checked(3 * h);
        // transformers fills in 2 layer norms for the new decoder architecture when the config leaves it open.
        long lns = config.NumLnInParallelAttn ?? (config.NewDecoderArchitecture ? 2 : 1);
        var tensors = new List<CanonicalTensor> { new("transformer.word_embeddings.weight", [vocab, h]) };
        for (long i = 0; i < config.NumHiddenLayers; i++)
        {
            string layer = $"transformer.h.{i}.";
            Linear.Add(tensors, layer + "self_attention.query_key_value", qkvOut, h, config.AttentionBias);
            Linear.Add(tensors, layer + "self_attention.dense", h, h, config.AttentionBias);
            Linear.Add(tensors, layer + "mlp.dense_h_to_4h", ffn, h, config.MlpBias);
            Linear.Add(tensors, layer + "mlp.dense_4h_to_h", h, ffn, config.MlpBias);
            if (!config.ParallelAttention)
            {
                Linear.AddLayerNorm(tensors, layer + "post_attention_layernorm", h);
                Linear.AddLayerNorm(tensors, layer + "input_layernorm", h);
            }
            else if (lns == 2)
            {
                Linear.AddLayerNorm(tensors, layer + "ln_attn", h);
                Linear.AddLayerNorm(tensors, layer + "ln_mlp", h);
            }
            else
            {
                Linear.AddLayerNorm(tensors, layer + "input_layernorm", h);
            }
        }
        Linear.AddLayerNorm(tensors, "transformer.ln_f", h);
        if (!config.TieWordEmbeddings) tensors.Add(new("lm_head.weight", [vocab, h]));
        return tensors;
    }

    public override string ToString() => $"{Name} ({string.Join(", ", Architectures)})";
}
