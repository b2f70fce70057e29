namespace Ckptmpi.Model;

/// <summary>
/// The architecture facts of a HuggingFace <c>config.json</c> that decide tensor names and shapes
/// (sizes, heads, layers, vocabulary), validated, with defaults applied as transformers applies them, and the
/// <see cref="IModelFamily"/> that knows the tensors. Obtain one with <see cref="Load"/> or <see cref="Parse"/>;
/// the parser is the only way in, so every instance is consistent.
/// </summary>
public sealed partial record ModelConfig
{
    /// <summary>Where the config came from (for messages).</summary>
    public required string Path { get; init; }

    /// <summary><c>architectures[0]</c>, e.g. <c>LlamaForCausalLM</c>; null when the file lists none.</summary>
    public string? Architecture { get; init; }

    /// <summary><c>model_type</c> ("llama", "mistral", "qwen2"); null when absent.</summary>
    public string? ModelType { get; init; }

    /// <summary>The family resolved from <see cref="Architecture"/> (or <see cref="ModelType"/>).</summary>
    public required IModelFamily Family { get; init; }

    /// <summary><c>hidden_size</c> (h).</summary>
    public required long HiddenSize { get; init; }

    /// <summary><c>intermediate_size</c> (I).</summary>
    public required long IntermediateSize { get; init; }

    /// <summary><c>num_hidden_layers</c> (L).</summary>
    public required long NumHiddenLayers { get; init; }

    /// <summary><c>num_attention_heads</c> (nq).</summary>
    public required long NumAttentionHeads { get; init; }

    /// <summary><c>num_key_value_heads</c> (nkv); equals nq when the key is missing or null (no GQA).</summary>
    public required long NumKeyValueHeads { get; init; }

    /// <summary><c>head_dim</c> (d); <c>hidden_size / num_attention_heads</c> (floor) when missing or null, as transformers does.</summary>
    public required long HeadDim { get; init; }

    /// <summary><c>vocab_size</c> (V).</summary>
    public required long VocabSize { get; init; }

    /// <summary><c>tie_word_embeddings</c> (default false): true means there is no <c>lm_head.weight</c>.</summary>
    public bool TieWordEmbeddings { get; init; }

    /// <summary><c>attention_bias</c> (default false; Llama puts a bias on q/k/v/o when true).</summary>
    public bool AttentionBias { get; init; }

    /// <summary><c>mlp_bias</c> (default false; Llama puts a bias on gate/up/down when true).</summary>
    public bool MlpBias { get; init; }

    /// <summary>Mixtral's <c>num_local_experts</c>: experts per MoE layer (0 for a dense model).</summary>
    public long NumLocalExperts { get; init; }

    /// <summary>Falcon's <c>parallel_attn</c> (attention and MLP read the same normed input).</summary>
    public bool ParallelAttention { get; init; }

    /// <summary>Falcon's <c>new_decoder_architecture</c> (40B/180B: grouped KV heads, two layer norms).</summary>
    public bool NewDecoderArchitecture { get; init; }

    /// <summary>Falcon's <c>multi_query</c> (7B: one shared KV head).</summary>
    public bool MultiQuery { get; init; }

    /// <summary>Falcon's <c>num_ln_in_parallel_attn</c> (null: 2 with the new decoder architecture).</summary>
    public long? NumLnInParallelAttn { get; init; }

    /// <summary>GPT-2's <c>n_positions</c>: rows of the learned position embedding (0 when the model has none).</summary>
    public long MaxPositionEmbeddings { get; init; }

    /// <summary><c>torch_dtype</c> or <c>dtype</c>, informational only: tensor dtypes come from file headers, which may disagree with it.</summary>
    public string? DeclaredDType { get; init; }

    /// <summary>The embedding a tied output head shares, when <see cref="TieWordEmbeddings"/> is set; else null.</summary>
    public TiedWeights? Tied => TieWordEmbeddings ? Family.Tied : null;

    /// <summary>The model's parameters in HF naming, from <see cref="Family"/>.</summary>
    public IReadOnlyList<CanonicalTensor> CanonicalTensors() => Family.CanonicalTensors(this);
}
