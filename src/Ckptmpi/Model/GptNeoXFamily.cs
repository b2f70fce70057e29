namespace Ckptmpi.Model;

/// <summary>
/// GPT-NeoX (Pythia, GPT-NeoX-20B; <c>GPTNeoXForCausalLM</c>), as transformers 4.46 registers it:
/// <c>gpt_neox.embed_in [V, h]</c>; per layer <c>input_layernorm</c> and <c>post_attention_layernorm</c> (LayerNorm: weight,
/// bias) <em>before</em> <c>attention.query_key_value [3h, h]</c> and <c>attention.dense [h, h]</c> (biases when
/// <c>attention_bias</c>, default true), <c>mlp.dense_h_to_4h [I, h]</c>, <c>mlp.dense_4h_to_h [h, I]</c> (always biased);
/// <c>gpt_neox.final_layer_norm</c>; <c>embed_out [V, h]</c> unless tied (default untied).
/// </summary>
public sealed class GptNeoXFamily : IModelFamily
{
    public static GptNeoXFamily Instance { get; } = new();

    private GptNeoXFamily() { }

    public string Name => "gpt_neox";

    public IReadOnlyList<string> Architectures { get; } = ["GPTNeoXForCausalLM"];

    public TiedWeights Tied { get; } = new("embed_out.weight", "gpt_neox.embed_in.weight");

    public ModelConfig Read(ConfigJson keys) =>
        ModelConfig.ReadDecoder(keys, this, tiedByDefault: false) with { AttentionBias = keys.OptionalBool("attention_bias") ?? true };

    /// <summary>
    /// Older exports saved each layer's causal-mask buffers (<c>attention.bias</c>, <c>attention.masked_bias</c>) and rotary
    /// <c>inv_freq</c>; none is a parameter.
    /// </summary>
    public bool IsBuffer(string tensorName) =>
        tensorName.EndsWith(".attention.bias", StringComparison.Ordinal)
        || tensorName.EndsWith(".attention.masked_bias", StringComparison.Ordinal)
        || tensorName.EndsWith(".rotary_emb.inv_freq", StringComparison.Ordinal);

    public IReadOnlyList<CanonicalTensor> CanonicalTensors(ModelConfig config)
    {
        FamilyCheck.Owns(this, config);
        long h = config.HiddenSize, inter = config.IntermediateSize, vocab = config.VocabSize;
        var tensors = new List<CanonicalTensor> { new("gpt_neox.embed_in.weight", [vocab, h]) };
        for (long i = 0; i < config.NumHiddenLayers; i++)
        {
            string layer = $"gpt_neox.layers.{i}.";
            Linear.AddLayerNorm(tensors, layer + "input_layernorm", h);
            Linear.AddLayerNorm(tensors, layer + "post_attention_layernorm", h);
            Linear.Add(tensors, layer + "attention.query_key_value", checked(3 * h), h, config.AttentionBias);
            Linear.Add(tensors, layer + "attention.dense", h, h, config.AttentionBias);
            Linear.Add(tensors, layer + "mlp.dense_h_to_4h", inter, h, bias: true);
            Linear.Add(tensors, layer + "mlp.dense_4h_to_h", h, inter, bias: true);
        }
        Linear.AddLayerNorm(tensors, "gpt_neox.final_layer_norm", h);
        if (!config.TieWordEmbeddings) tensors.Add(new("embed_out.weight", [vocab, h]));
        return tensors;
    }

    public override string ToString() => $"{Name} ({string.Join(", ", Architectures)})";
}
