using Ckptmpi.Errors;

namespace Ckptmpi.Model;

/// <summary>
/// GPT-2 (<c>GPT2LMHeadModel</c>), as transformers 4.46 registers it: <c>transformer.wte [V, h]</c>,
/// <c>transformer.wpe [n_positions, h]</c>; per block <c>ln_1</c>, <c>attn.c_attn</c>, <c>attn.c_proj</c>, <c>ln_2</c>,
/// <c>mlp.c_fc</c>, <c>mlp.c_proj</c>; <c>transformer.ln_f</c>; <c>lm_head.weight [V, h]</c> unless tied (GPT-2 ties by
/// default). Its projections are <c>Conv1D</c>: weights stored <c>[in, out]</c>, always with a bias. Config keys are
/// GPT-2's own (<c>n_embd</c>, <c>n_layer</c>, <c>n_head</c>, <c>n_inner</c> = 4h when null, <c>n_positions</c>).
/// </summary>
public sealed class Gpt2Family : IModelFamily
{
    public static Gpt2Family Instance { get; } = new();

    private Gpt2Family() { }

    public string Name => "gpt2";

    public IReadOnlyList<string> Architectures { get; } = ["GPT2LMHeadModel"];

    public TiedWeights Tied { get; } = new("lm_head.weight", "transformer.wte.weight");

    public ModelConfig Read(ConfigJson keys)
    {
        if (keys.OptionalBool("add_cross_attention") == true)
            throw new UnsupportedCheckpointException(keys.Path, "GPT-2 with add_cross_attention (an encoder-decoder block) is not supported; only the decoder-only GPT2LMHeadModel is");
        long h = keys.Required("n_embd", "hidden_size");
        long heads = keys.Required("n_head", "num_attention_heads");
        return new ModelConfig
        {
            Path = keys.Path,
            Family = this,
            HiddenSize = h,
            IntermediateSize = keys.Optional("n_inner") ?? checked(4 * h),
            NumHiddenLayers = keys.Required(0, "n_layer", "num_hidden_layers"),
            NumAttentionHeads = heads,
            NumKeyValueHeads = heads,
            HeadDim = h / heads,
            VocabSize = keys.Required("vocab_size"),
            MaxPositionEmbeddings = keys.Required("n_positions", "max_position_embeddings"),
            TieWordEmbeddings = keys.OptionalBool("tie_word_embeddings") ?? true,
        };
    }

    /// <summary>
    /// Old GPT-2 exports saved each block's causal mask (<c>attn.bias</c>, [1, 1, n_positions, n_positions]) and
    /// <c>attn.masked_bias</c>; both are buffers. <c>attn.c_attn.bias</c> is a parameter and does not match.
    /// </summary>
    public bool IsBuffer(string tensorName) =>
        tensorName.EndsWith(".attn.bias", StringComparison.Ordinal) || tensorName.EndsWith(".attn.masked_bias", StringComparison.Ordinal);

    public IReadOnlyList<CanonicalTensor> CanonicalTensors(ModelConfig config)
    {
        FamilyCheck.Owns(this, config);
        long h = config.HiddenSize, inner = config.IntermediateSize, vocab = config.VocabSize;
        var tensors = new List<CanonicalTensor>
        {
            new("transformer.wte.weight", [vocab, h]),
            new("transformer.wpe.weight", [config.MaxPositionEmbeddings, h]),
        };
        for (long i = 0; i < config.NumHiddenLayers; i++)
        {
            string block = $"transformer.h.{i}.";
            Linear.AddLayerNorm(tensors, block + "ln_1", h);
            Linear.AddConv1D(tensors, block + "attn.c_attn", checked(3 * h), h);
            Linear.AddConv1D(tensors, block + "attn.c_proj", h, h);
            Linear.AddLayerNorm(tensors, block + "ln_2", h);
            Linear.AddConv1D(tensors, block + "mlp.c_fc", inner, h);
            Linear.AddConv1D(tensors, block + "mlp.c_proj", h, inner);
        }
        Linear.AddLayerNorm(tensors, "transformer.ln_f", h);
        if (!config.TieWordEmbeddings) tensors.Add(new("lm_head.weight", [vocab, h]));
        return tensors;
    }

    public override string ToString() => $"{Name} ({string.Join(", ", Architectures)})";
}
