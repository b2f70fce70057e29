namespace Ckptmpi.Tests.Model;

/// <summary>
/// Tiny models of every family, each with its config.json and the parameters its transformers (4.46) CausalLM class
/// yields from <c>named_parameters()</c>, written out here from the module definitions (registration order in each
/// <c>__init__</c>; Linear weight [out, in] then bias; GPT-2's Conv1D weight [in, out]; LayerNorm weight then bias; a
/// tied head is not yielded; buffers are not parameters). Two layers: the per-layer block is listed once, with
/// <c>{i}</c> for the layer index. h = 16 and 4 heads of 4 unless the case says otherwise.
/// </summary>
public sealed record FamilyCase(string Name, string ConfigJson, (string Name, long[] Shape)[] Head, (string Name, long[] Shape)[] Layer, (string Name, long[] Shape)[] Tail, (string Head, string Embedding)? Tied = null)
{
    public const int Layers = 2;

    /// <summary>Every parameter in <c>named_parameters()</c> order.</summary>
    public IReadOnlyList<(string Name, long[] Shape)> Expected =>
        [.. Head, .. Enumerable.Range(0, Layers).SelectMany(i => Layer.Select(p => (p.Name.Replace("{i}", i.ToString()), p.Shape))), .. Tail];

    public override string ToString() => Name;

    private static string Config(string architecture, string modelType, string keys) =>
        $"{{\"architectures\": [\"{architecture}\"], \"model_type\": \"{modelType}\", \"num_hidden_layers\": {Layers}, \"vocab_size\": 64, {keys}}}";

    private const string Decoder = "\"hidden_size\": 16, \"intermediate_size\": 32, \"num_attention_heads\": 4";

    private static (string, long[])[] Ln(string module, long n) => [(module + ".weight", [n]), (module + ".bias", [n])];

    public static IReadOnlyList<FamilyCase> All { get; } =
    [
        // GemmaForCausalLM: config ties the embeddings and the key/value heads may be fewer; head_dim 8 != h / heads.
        new("gemma", Config("GemmaForCausalLM", "gemma", Decoder + ", \"num_key_value_heads\": 1, \"head_dim\": 8"),
            [("model.embed_tokens.weight", [64, 16])],
            [
                ("model.layers.{i}.self_attn.q_proj.weight", [32, 16]), ("model.layers.{i}.self_attn.k_proj.weight", [8, 16]),
                ("model.layers.{i}.self_attn.v_proj.weight", [8, 16]), ("model.layers.{i}.self_attn.o_proj.weight", [16, 32]),
                ("model.layers.{i}.mlp.gate_proj.weight", [32, 16]), ("model.layers.{i}.mlp.up_proj.weight", [32, 16]),
                ("model.layers.{i}.mlp.down_proj.weight", [16, 32]),
                ("model.layers.{i}.input_layernorm.weight", [16]), ("model.layers.{i}.post_attention_layernorm.weight", [16]),
            ],
            [("model.norm.weight", [16])], ("lm_head.weight", "model.embed_tokens.weight")),

        // Gemma2ForCausalLM: four norms per layer; attention_bias puts a bias on q/k/v/o (never the MLP).
        new("gemma2", Config("Gemma2ForCausalLM", "gemma2", Decoder + ", \"num_key_value_heads\": 2, \"head_dim\": 4, \"attention_bias\": true"),
            [("model.embed_tokens.weight", [64, 16])],
            [
                ("model.layers.{i}.self_attn.q_proj.weight", [16, 16]), ("model.layers.{i}.self_attn.q_proj.bias", [16]),
                ("model.layers.{i}.self_attn.k_proj.weight", [8, 16]), ("model.layers.{i}.self_attn.k_proj.bias", [8]),
                ("model.layers.{i}.self_attn.v_proj.weight", [8, 16]), ("model.layers.{i}.self_attn.v_proj.bias", [8]),
                ("model.layers.{i}.self_attn.o_proj.weight", [16, 16]), ("model.layers.{i}.self_attn.o_proj.bias", [16]),
                ("model.layers.{i}.mlp.gate_proj.weight", [32, 16]), ("model.layers.{i}.mlp.up_proj.weight", [32, 16]),
                ("model.layers.{i}.mlp.down_proj.weight", [16, 32]),
                ("model.layers.{i}.input_layernorm.weight", [16]), ("model.layers.{i}.post_attention_layernorm.weight", [16]),
                ("model.layers.{i}.pre_feedforward_layernorm.weight", [16]), ("model.layers.{i}.post_feedforward_layernorm.weight", [16]),
            ],
            [("model.norm.weight", [16])], ("lm_head.weight", "model.embed_tokens.weight")),

        // Phi3ForCausalLM: o_proj is registered before the fused qkv_proj; gate and up fused.
        new("phi3", Config("Phi3ForCausalLM", "phi3", Decoder + ", \"num_key_value_heads\": 2"),
            [("model.embed_tokens.weight", [64, 16])],
            [
                ("model.layers.{i}.self_attn.o_proj.weight", [16, 16]), ("model.layers.{i}.self_attn.qkv_proj.weight", [32, 16]),
                ("model.layers.{i}.mlp.gate_up_proj.weight", [64, 16]), ("model.layers.{i}.mlp.down_proj.weight", [16, 32]),
                ("model.layers.{i}.input_layernorm.weight", [16]), ("model.layers.{i}.post_attention_layernorm.weight", [16]),
            ],
            [("model.norm.weight", [16]), ("lm_head.weight", [64, 16])]),

        // GPTNeoXForCausalLM: both layer norms before attention; all Linear layers biased by default.
        new("gpt_neox", Config("GPTNeoXForCausalLM", "gpt_neox", Decoder),
            [("gpt_neox.embed_in.weight", [64, 16])],
            [
                .. Ln("gpt_neox.layers.{i}.input_layernorm", 16), .. Ln("gpt_neox.layers.{i}.post_attention_layernorm", 16),
                ("gpt_neox.layers.{i}.attention.query_key_value.weight", [48, 16]), ("gpt_neox.layers.{i}.attention.query_key_value.bias", [48]),
                ("gpt_neox.layers.{i}.attention.dense.weight", [16, 16]), ("gpt_neox.layers.{i}.attention.dense.bias", [16]),
                ("gpt_neox.layers.{i}.mlp.dense_h_to_4h.weight", [32, 16]), ("gpt_neox.layers.{i}.mlp.dense_h_to_4h.bias", [32]),
                ("gpt_neox.layers.{i}.mlp.dense_4h_to_h.weight", [16, 32]), ("gpt_neox.layers.{i}.mlp.dense_4h_to_h.bias", [16]),
            ],
            [.. Ln("gpt_neox.final_layer_norm", 16), ("embed_out.weight", [64, 16])]),

        // GPT2LMHeadModel: GPT-2's own config keys, Conv1D weights [in, out], n_inner null = 4h, tied by default.
        new("gpt2", "{\"architectures\": [\"GPT2LMHeadModel\"], \"model_type\": \"gpt2\", \"n_embd\": 16, \"n_head\": 4, \"n_layer\": 2, \"n_positions\": 32, \"n_inner\": null, \"vocab_size\": 64}",
            [("transformer.wte.weight", [64, 16]), ("transformer.wpe.weight", [32, 16])],
            [
                .. Ln("transformer.h.{i}.ln_1", 16),
                ("transformer.h.{i}.attn.c_attn.weight", [16, 48]), ("transformer.h.{i}.attn.c_attn.bias", [48]),
                ("transformer.h.{i}.attn.c_proj.weight", [16, 16]), ("transformer.h.{i}.attn.c_proj.bias", [16]),
                .. Ln("transformer.h.{i}.ln_2", 16),
                ("transformer.h.{i}.mlp.c_fc.weight", [16, 64]), ("transformer.h.{i}.mlp.c_fc.bias", [64]),
                ("transformer.h.{i}.mlp.c_proj.weight", [64, 16]), ("transformer.h.{i}.mlp.c_proj.bias", [16]),
            ],
            [.. Ln("transformer.ln_f", 16)], ("lm_head.weight", "transformer.wte.weight")),

        // FalconForCausalLM, new decoder architecture (40B/180B): grouped KV heads, ln_attn + ln_mlp, untied here.
        new("falcon-new", Config("FalconForCausalLM", "falcon", "\"hidden_size\": 16, \"num_attention_heads\": 4, \"num_kv_heads\": 2, \"new_decoder_architecture\": true, \"parallel_attn\": true, \"bias\": false, \"ffn_hidden_size\": 32, \"tie_word_embeddings\": false"),
            [("transformer.word_embeddings.weight", [64, 16])],
            [
                ("transformer.h.{i}.self_attention.query_key_value.weight", [32, 16]), ("transformer.h.{i}.self_attention.dense.weight", [16, 16]),
                ("transformer.h.{i}.mlp.dense_h_to_4h.weight", [32, 16]), ("transformer.h.{i}.mlp.dense_4h_to_h.weight", [16, 32]),
                .. Ln("transformer.h.{i}.ln_attn", 16), .. Ln("transformer.h.{i}.ln_mlp", 16),
            ],
            [.. Ln("transformer.ln_f", 16), ("lm_head.weight", [64, 16])]),

        // Falcon-7B style: multi-query (one KV head: h + 2d rows), parallel attention with one norm, ffn 4h, tied by default.
        new("falcon-7b", Config("FalconForCausalLM", "falcon", "\"hidden_size\": 16, \"num_attention_heads\": 4, \"multi_query\": true, \"parallel_attn\": true, \"new_decoder_architecture\": false"),
            [("transformer.word_embeddings.weight", [64, 16])],
            [
                ("transformer.h.{i}.self_attention.query_key_value.weight", [24, 16]), ("transformer.h.{i}.self_attention.dense.weight", [16, 16]),
                ("transformer.h.{i}.mlp.dense_h_to_4h.weight", [64, 16]), ("transformer.h.{i}.mlp.dense_4h_to_h.weight", [16, 64]),
                .. Ln("transformer.h.{i}.input_layernorm", 16),
            ],
            [.. Ln("transformer.ln_f", 16)], ("lm_head.weight", "transformer.word_embeddings.weight")),

        // Falcon sequential blocks (parallel_attn false), biased: post_attention_layernorm is registered before input_layernorm.
        new("falcon-sequential", Config("FalconForCausalLM", "falcon", "\"hidden_size\": 16, \"num_attention_heads\": 4, \"multi_query\": false, \"parallel_attn\": false, \"bias\": true, \"ffn_hidden_size\": 32, \"tie_word_embeddings\": false"),
            [("transformer.word_embeddings.weight", [64, 16])],
            [
                ("transformer.h.{i}.self_attention.query_key_value.weight", [48, 16]), ("transformer.h.{i}.self_attention.query_key_value.bias", [48]),
                ("transformer.h.{i}.self_attention.dense.weight", [16, 16]), ("transformer.h.{i}.self_attention.dense.bias", [16]),
                ("transformer.h.{i}.mlp.dense_h_to_4h.weight", [32, 16]), ("transformer.h.{i}.mlp.dense_h_to_4h.bias", [32]),
                ("transformer.h.{i}.mlp.dense_4h_to_h.weight", [16, 32]), ("transformer.h.{i}.mlp.dense_4h_to_h.bias", [16]),
                .. Ln("transformer.h.{i}.post_attention_layernorm", 16), .. Ln("transformer.h.{i}.input_layernorm", 16),
            ],
            [.. Ln("transformer.ln_f", 16), ("lm_head.weight", [64, 16])]),

        // MixtralForCausalLM: the sparse MoE block (router gate, then each expert's w1, w2, w3) replaces the MLP.
        new("mixtral", Config("MixtralForCausalLM", "mixtral", Decoder + ", \"num_key_value_heads\": 2, \"num_local_experts\": 2"),
            [("model.embed_tokens.weight", [64, 16])],
            [
                ("model.layers.{i}.self_attn.q_proj.weight", [16, 16]), ("model.layers.{i}.self_attn.k_proj.weight", [8, 16]),
                ("model.layers.{i}.self_attn.v_proj.weight", [8, 16]), ("model.layers.{i}.self_attn.o_proj.weight", [16, 16]),
                ("model.layers.{i}.block_sparse_moe.gate.weight", [2, 16]),
                ("model.layers.{i}.block_sparse_moe.experts.0.w1.weight", [32, 16]), ("model.layers.{i}.block_sparse_moe.experts.0.w2.weight", [16, 32]),
                ("model.layers.{i}.block_sparse_moe.experts.0.w3.weight", [32, 16]),
                ("model.layers.{i}.block_sparse_moe.experts.1.w1.weight", [32, 16]), ("model.layers.{i}.block_sparse_moe.experts.1.w2.weight", [16, 32]),
                ("model.layers.{i}.block_sparse_moe.experts.1.w3.weight", [32, 16]),
                ("model.layers.{i}.input_layernorm.weight", [16]), ("model.layers.{i}.post_attention_layernorm.weight", [16]),
            ],
            [("model.norm.weight", [16]), ("lm_head.weight", [64, 16])]),
    ];
}
