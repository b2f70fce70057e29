namespace Ckptmpi.Model;

/// <summary>
/// The Llama-style decoder (Llama 2/3/3.1/3.2/3.3, Mistral, Qwen2/2.5): canonical HF tensor names and shapes
/// derived from config.json alone.
/// The variants differ only in which Linear layers carry a bias:
/// Llama: q/k/v/o when <c>attention_bias</c>, gate/up/down when <c>mlp_bias</c>; Mistral: none;
/// Qwen2: q/k/v always (hard-wired in the model, whatever the config says), never o or the MLP.
/// </summary>
public sealed class LlamaFamily : IModelFamily
{
    public static LlamaFamily Llama { get; } = new("llama", ["LlamaForCausalLM"], BiasRule.FromConfig);
    public static LlamaFamily Mistral { get; } = new("mistral", ["MistralForCausalLM"], BiasRule.None);
    public static LlamaFamily Qwen2 { get; } = new("qwen2", ["Qwen2ForCausalLM"], BiasRule.QkvOnly);

    private enum BiasRule { FromConfig, None, QkvOnly }

    private readonly BiasRule _bias;

    private LlamaFamily(string name, string[] architectures, BiasRule bias)
    {
        Name = name;
        Architectures = architectures;
        _bias = bias;
    }

    public string Name { get; }

    public IReadOnlyList<string> Architectures { get; }

    /// <summary>
    /// Old HF Llama checkpoints store each layer's rotary <c>inv_freq</c>; it is a buffer recomputed from the
    /// config, never a parameter: ignored on read, never written.
    /// </summary>
    public bool IsBuffer(string tensorName) => tensorName.EndsWith(".rotary_emb.inv_freq", StringComparison.Ordinal);

    /// <summary>
    /// In <c>named_parameters()</c> order: <c>model.embed_tokens.weight [V, h]</c>; per layer i
    /// <c>self_attn.{q,k,v,o}_proj</c> (<c>q [nq*d, h]</c>, <c>k,v [nkv*d, h]</c>, <c>o [h, nq*d]</c>, biases after their weight),
    /// <c>mlp.{gate,up}_proj [I, h]</c>, <c>mlp.down_proj [h, I]</c>, <c>input_layernorm</c> and
    /// <c>post_attention_layernorm [h]</c>; <c>model.norm.weight [h]</c>; <c>lm_head.weight [V, h]</c> unless tied.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="config"/> belongs to another family.</exception>
    public IReadOnlyList<CanonicalTensor> CanonicalTensors(ModelConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (!ReferenceEquals(config.Family, this))
            throw new ArgumentException($"{config.Path}: config is for family '{config.Family.Name}', not '{Name}'", nameof(config));

        long h = config.HiddenSize, inter = config.IntermediateSize, vocab = config.VocabSize;
        long qOut = checked(config.NumAttentionHeads * config.HeadDim);
        long kvOut = checked(config.NumKeyValueHeads * config.HeadDim);
        bool qkvBias = _bias switch { BiasRule.FromConfig => config.AttentionBias, BiasRule.QkvOnly => true, _ => false };
        bool oBias = _bias == BiasRule.FromConfig && config.AttentionBias;
        bool mlpBias = _bias == BiasRule.FromConfig && config.MlpBias;

        int perLayer = 9 + (qkvBias ? 3 : 0) + (oBias ? 1 : 0) + (mlpBias ? 3 : 0);
        var tensors = new List<CanonicalTensor>(checked(3 + (int)config.NumHiddenLayers * perLayer));
        tensors.Add(new("model.embed_tokens.weight", [vocab, h]));
        for (long i = 0; i < config.NumHiddenLayers; i++)
        {
            string attn = $"model.layers.{i}.self_attn.";
            AddLinear(tensors, attn + "q_proj", qOut, h, qkvBias);
            AddLinear(tensors, attn + "k_proj", kvOut, h, qkvBias);
            AddLinear(tensors, attn + "v_proj", kvOut, h, qkvBias);
            AddLinear(tensors, attn + "o_proj", h, qOut, oBias);
            string mlp = $"model.layers.{i}.mlp.";
            AddLinear(tensors, mlp + "gate_proj", inter, h, mlpBias);
            AddLinear(tensors, mlp + "up_proj", inter, h, mlpBias);
            AddLinear(tensors, mlp + "down_proj", h, inter, mlpBias);
            tensors.Add(new($"model.layers.{i}.input_layernorm.weight", [h]));
            tensors.Add(new($"model.layers.{i}.post_attention_layernorm.weight", [h]));
        }
        tensors.Add(new("model.norm.weight", [h]));
        if (!config.TieWordEmbeddings) tensors.Add(new("lm_head.weight", [vocab, h]));
        return tensors;
    }

    // PyTorch Linear: weight [out, in], then bias [out] when present.
    private static void AddLinear(List<CanonicalTensor> tensors, string module, long outFeatures, long inFeatures, bool bias)
    {
        tensors.Add(new(module + ".weight", [outFeatures, inFeatures]));
        if (bias) tensors.Add(new(module + ".bias", [outFeatures]));
    }

    public override string ToString() => $"{Name} ({string.Join(", ", Architectures)})";
}
