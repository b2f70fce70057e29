namespace Ckptmpi.Model;

/// <summary>
/// The Llama-style decoders: Llama 2/3/3.1/3.2/3.3, Mistral, Qwen2/2.5, Gemma, Gemma 2 and Mixtral. Canonical HF tensor
/// names and shapes in <c>named_parameters()</c> order, derived from config.json alone, as the transformers 4.46 module
/// definitions register them. The variants differ in
/// <list type="bullet">
/// <item>which Linear layers carry a bias: Llama q/k/v/o when <c>attention_bias</c>, gate/up/down when <c>mlp_bias</c>;
/// Mistral and Mixtral none; Qwen2 q/k/v always (hard-wired in the model, whatever the config says); Gemma and Gemma 2
/// q/k/v/o when <c>attention_bias</c>, never the MLP;</item>
/// <item>Gemma 2's two extra norms around the MLP (<c>pre_feedforward_layernorm</c>, <c>post_feedforward_layernorm</c>,
/// registered after <c>post_attention_layernorm</c>);</item>
/// <item>Mixtral's sparse MoE block in place of the MLP (<c>block_sparse_moe.gate</c>, then per expert <c>w1, w2, w3</c>);</item>
/// <item>config defaults: Gemma's config class ties the embeddings and has <c>head_dim</c> 256 unless told otherwise.</item>
/// </list>
/// </summary>
public sealed class LlamaFamily : IModelFamily
{
    public static LlamaFamily Llama { get; } = new("llama", ["LlamaForCausalLM"], BiasRule.FromConfig);
    public static LlamaFamily Mistral { get; } = new("mistral", ["MistralForCausalLM"], BiasRule.None);
    public static LlamaFamily Qwen2 { get; } = new("qwen2", ["Qwen2ForCausalLM"], BiasRule.QkvOnly);
    public static LlamaFamily Gemma { get; } = new("gemma", ["GemmaForCausalLM"], BiasRule.AttentionFromConfig, gemmaDefaults: true);
    public static LlamaFamily Gemma2 { get; } = new("gemma2", ["Gemma2ForCausalLM"], BiasRule.AttentionFromConfig, gemmaDefaults: true, feedforwardNorms: true);
    public static LlamaFamily Mixtral { get; } = new("mixtral", ["MixtralForCausalLM"], BiasRule.None, experts: true);

    private enum BiasRule { FromConfig, None, QkvOnly, AttentionFromConfig }

    private const long GemmaHeadDim = 256, MixtralExperts = 8;

    private readonly BiasRule _bias;
    private readonly bool _gemmaDefaults, _feedforwardNorms, _experts;

    private LlamaFamily(string name, string[] architectures, BiasRule bias, bool gemmaDefaults = false, bool feedforwardNorms = false, bool experts = false)
    {
        Name = name;
        Architectures = architectures;
        _bias = bias;
        _gemmaDefaults = gemmaDefaults;
        _feedforwardNorms = feedforwardNorms;
        _experts = experts;
    }

    public string Name { get; }

    public IReadOnlyList<string> Architectures { get; }

    public TiedWeights Tied { get; } = new("lm_head.weight", "model.embed_tokens.weight");

    public ModelConfig Read(ConfigJson keys)
    {
        ModelConfig c = ModelConfig.ReadDecoder(keys, this, tiedByDefault: _gemmaDefaults, defaultHeadDim: _gemmaDefaults ? GemmaHeadDim : null);
        return _experts ? c with { NumLocalExperts = keys.Optional("num_local_experts") ?? MixtralExperts } : c;
    }

    /// <summary>
    /// Old HF Llama checkpoints store each layer's rotary <c>inv_freq</c>; it is a buffer recomputed from the
    /// config, never a parameter: ignored on read, never written.
    /// </summary>
    public bool IsBuffer(string tensorName) => tensorName.EndsWith(".rotary_emb.inv_freq", StringComparison.Ordinal);

    /// <summary>
    /// In <c>named_parameters()</c> order: <c>model.embed_tokens.weight [V, h]</c>; per layer i
    /// <c>self_attn.{q,k,v,o}_proj</c> (<c>q [nq*d, h]</c>, <c>k,v [nkv*d, h]</c>, <c>o [h, nq*d]</c>, biases after their weight),
    /// <c>mlp.{gate,up}_proj [I, h]</c>, <c>mlp.down_proj [h, I]</c> (Mixtral: <c>block_sparse_moe.gate [E, h]</c>, per expert
    /// <c>w1 [I, h], w2 [h, I], w3 [I, h]</c>), <c>input_layernorm</c> and <c>post_attention_layernorm [h]</c> (Gemma 2:
    /// then <c>pre_feedforward_layernorm</c>, <c>post_feedforward_layernorm</c>); <c>model.norm.weight [h]</c>;
    /// <c>lm_head.weight [V, h]</c> unless tied.
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
        bool attentionBias = config.AttentionBias && _bias is BiasRule.FromConfig or BiasRule.AttentionFromConfig;
        bool qkvBias = _bias == BiasRule.QkvOnly || attentionBias;
        bool mlpBias = _bias == BiasRule.FromConfig && config.MlpBias;

        var tensors = new List<CanonicalTensor>();
        tensors.Add(new("model.embed_tokens.weight", [vocab, h]));
        for (long i = 0; i < config.NumHiddenLayers; i++)
        {
            string layer = $"model.layers.{i}.";
            Linear.Add(tensors, layer + "self_attn.q_proj", qOut, h, qkvBias);
            Linear.Add(tensors, layer + "self_attn.k_proj", kvOut, h, qkvBias);
            Linear.Add(tensors, layer + "self_attn.v_proj", kvOut, h, qkvBias);
            Linear.Add(tensors, layer + "self_attn.o_proj", h, qOut, attentionBias);
            if (_experts)
            {
                string moe = layer + "block_sparse_moe.";
                Linear.Add(tensors, moe + "gate", config.NumLocalExperts, h, bias: false);
                for (long e = 0; e < config.NumLocalExperts; e++)
                {
                    Linear.Add(tensors, $"{moe}experts.{e}.w1", inter, h, bias: false);
                    Linear.Add(tensors, $"{moe}experts.{e}.w2", h, inter, bias: false);
                    Linear.Add(tensors, $"{moe}experts.{e}.w3", inter, h, bias: false);
                }
            }
            else
            {
                Linear.Add(tensors, layer + "mlp.gate_proj", inter, h, mlpBias);
                Linear.Add(tensors, layer + "mlp.up_proj", inter, h, mlpBias);
                Linear.Add(tensors, layer + "mlp.down_proj", h, inter, mlpBias);
            }
            tensors.Add(new(layer + "input_layernorm.weight", [h]));
            tensors.Add(new(layer + "post_attention_layernorm.weight", [h]));
            if (_feedforwardNorms)
            {
                tensors.Add(new(layer + "pre_feedforward_layernorm.weight", [h]));
                tensors.Add(new(layer + "post_feedforward_layernorm.weight", [h]));
            }
        }
        tensors.Add(new("model.norm.weight", [h]));
        if (!config.TieWordEmbeddings) tensors.Add(new("lm_head.weight", [vocab, h]));
        return tensors;
    }

    public override string ToString() => $"{Name} ({string.Join(", ", Architectures)})";
}
