namespace Ckptmpi.Model;

/// <summary>
/// Phi-3 (<c>Phi3ForCausalLM</c>): a Llama-style decoder with fused projections, as transformers 4.46 registers them:
/// per layer <c>self_attn.o_proj [h, nq*d]</c> before <c>self_attn.qkv_proj [(nq + 2*nkv)*d, h]</c>, then
/// <c>mlp.gate_up_proj [2*I, h]</c>, <c>mlp.down_proj [h, I]</c>, <c>input_layernorm</c>, <c>post_attention_layernorm</c>.
/// No biases; embeddings untied unless config.json says otherwise.
/// </summary>
public sealed class Phi3Family : IModelFamily
{
    public static Phi3Family Instance { get; } = new();

    private Phi3Family() { }

    public string Name => "phi3";

    public IReadOnlyList<string> Architectures { get; } = ["Phi3ForCausalLM"];

    public TiedWeights Tied { get; } = new("lm_head.weight", "model.embed_tokens.weight");

    public ModelConfig Read(ConfigJson keys) => ModelConfig.ReadDecoder(keys, this, tiedByDefault: false);

    /// <summary>Rotary <c>inv_freq</c> buffers that old exports saved.</summary>
    public bool IsBuffer(string tensorName) => tensorName.EndsWith(".rotary_emb.inv_freq", StringComparison.Ordinal);

    public IReadOnlyList<CanonicalTensor> CanonicalTensors(ModelConfig config)
    {
        FamilyCheck.Owns(this, config);
        long h = config.HiddenSize, inter = config.IntermediateSize, vocab = config.VocabSize;
        long qOut = checked(config.NumAttentionHeads * config.HeadDim);
        long qkvOut = checked(qOut + 2 * config.NumKeyValueHeads * config.HeadDim);
        var tensors = new List<CanonicalTensor> { new("model.embed_tokens.weight", [vocab, h]) };
        for (long i = 0; i < config.NumHiddenLayers; i++)
        {
            string layer = $"model.layers.{i}.";
            Linear.Add(tensors, layer + "self_attn.o_proj", h, qOut, bias: false);
            Linear.Add(tensors, layer + "self_attn.qkv_proj", qkvOut, h, bias: false);
            Linear.Add(tensors, layer + "mlp.gate_up_proj", checked(2 * inter), h, bias: false);
            Linear.Add(tensors, layer + "mlp.down_proj", h, inter, bias: false);
            tensors.Add(new(layer + "input_layernorm.weight", [h]));
            tensors.Add(new(layer + "post_attention_layernorm.weight", [h]));
        }
        tensors.Add(new("model.norm.weight", [h]));
        if (!config.TieWordEmbeddings) tensors.Add(new("lm_head.weight", [vocab, h]));
        return tensors;
    }

    public override string ToString() => $"{Name} ({string.Join(", ", Architectures)})";
}
