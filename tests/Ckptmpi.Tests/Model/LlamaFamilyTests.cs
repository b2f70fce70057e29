using System.Text.Json;
using Ckptmpi.Model;

namespace Ckptmpi.Tests.Model;

/// <summary>Canonical tensors derived from real config.json files (tests/fixtures/configs) and the tiny fixture model.</summary>
public sealed class LlamaFamilyTests
{
    private static string ConfigPath(string file) => Path.Combine(TestPaths.Fixtures, "configs", file);

    // Publicly stated parameter counts (model cards / README of fixtures/configs) of the CausalLM models.
    private static readonly (string File, long Params, long WithoutLmHead)[] Published =
    [
        ("llama-3.3-70b-instruct.json", 70_553_706_496, 69_503_033_344),
        ("llama-3.1-405b.json", 405_853_388_800, 403_752_042_496),
        ("llama-3.1-8b.json", 8_030_261_248, 7_504_924_672),
        ("llama-3.2-1b.json", 1_235_814_400, 1_235_814_400), // tied: no lm_head to leave out
        ("llama-2-7b.json", 6_738_415_616, 6_607_343_616),
    ];

    private static IEnumerable<TestCaseData> PublishedCases() =>
        Published.Select(p => new TestCaseData(p.File, p.Params, p.WithoutLmHead).SetArgDisplayNames(p.File));

    [Test]
    public void Every_config_in_the_fixtures_has_a_published_count_here()
    {
        string[] files = Directory.GetFiles(Path.Combine(TestPaths.Fixtures, "configs"), "*.json").Select(Path.GetFileName).ToArray()!;
        Assert.That(files, Is.EquivalentTo(Published.Select(p => p.File)));
    }

    [TestCaseSource(nameof(PublishedCases))]
    public void Canonical_tensors_add_up_to_the_closed_form_count_and_the_published_one(string file, long published, long withoutLmHead)
    {
        ModelConfig config = ModelConfig.Load(ConfigPath(file));
        IReadOnlyList<CanonicalTensor> tensors = config.CanonicalTensors();
        long sum = tensors.Sum(t => t.ElementCount);

        // Independent closed form from the raw JSON, not from ModelConfig: V*h (embedding, twice if untied)
        // + L * (attention q,o: 2*h*nq*d; k,v: 2*h*nkv*d; MLP: 3*h*I; two norms: 2h) + final norm h.
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(ConfigPath(file)));
        JsonElement j = doc.RootElement;
        long h = j.GetProperty("hidden_size").GetInt64(), L = j.GetProperty("num_hidden_layers").GetInt64();
        long nq = j.GetProperty("num_attention_heads").GetInt64(), nkv = j.GetProperty("num_key_value_heads").GetInt64();
        long I = j.GetProperty("intermediate_size").GetInt64(), V = j.GetProperty("vocab_size").GetInt64();
        long d = j.TryGetProperty("head_dim", out JsonElement hd) ? hd.GetInt64() : h / nq;
        bool tied = j.GetProperty("tie_word_embeddings").GetBoolean();
        long closedForm = V * h * (tied ? 1 : 2) + L * (2 * h * nq * d + 2 * h * nkv * d + 3 * h * I + 2 * h) + h;

        Assert.That(sum, Is.EqualTo(closedForm), "sum of canonical tensors vs closed form");
        Assert.That(sum, Is.EqualTo(published), "published parameter count");
        long lmHead = tensors.Where(t => t.Name == "lm_head.weight").Sum(t => t.ElementCount);
        Assert.That(sum - lmHead, Is.EqualTo(withoutLmHead), "AutoModel (no lm_head) count");
        Assert.That(tensors.Count, Is.EqualTo(1 + 9 * L + 1 + (tied ? 0 : 1)));
        Assert.That(tensors.Select(t => t.Name).Distinct().Count(), Is.EqualTo(tensors.Count), "names are unique");
    }

    [Test]
    public void Llama_3_1_8b_tensors_have_the_documented_names_and_shapes()
    {
        var byName = ModelConfig.Load(ConfigPath("llama-3.1-8b.json")).CanonicalTensors().ToDictionary(t => t.Name, t => t.Shape);
        Assert.That(byName["model.embed_tokens.weight"], Is.EqualTo(new long[] { 128256, 4096 }));
        Assert.That(byName["model.layers.31.self_attn.q_proj.weight"], Is.EqualTo(new long[] { 4096, 4096 }));
        Assert.That(byName["model.layers.31.self_attn.k_proj.weight"], Is.EqualTo(new long[] { 1024, 4096 }), "GQA: 8 KV heads of 128");
        Assert.That(byName["model.layers.0.self_attn.v_proj.weight"], Is.EqualTo(new long[] { 1024, 4096 }));
        Assert.That(byName["model.layers.0.self_attn.o_proj.weight"], Is.EqualTo(new long[] { 4096, 4096 }));
        Assert.That(byName["model.layers.0.mlp.gate_proj.weight"], Is.EqualTo(new long[] { 14336, 4096 }));
        Assert.That(byName["model.layers.0.mlp.up_proj.weight"], Is.EqualTo(new long[] { 14336, 4096 }));
        Assert.That(byName["model.layers.0.mlp.down_proj.weight"], Is.EqualTo(new long[] { 4096, 14336 }));
        Assert.That(byName["model.layers.0.input_layernorm.weight"], Is.EqualTo(new long[] { 4096 }));
        Assert.That(byName["model.layers.0.post_attention_layernorm.weight"], Is.EqualTo(new long[] { 4096 }));
        Assert.That(byName["model.norm.weight"], Is.EqualTo(new long[] { 4096 }));
        Assert.That(byName["lm_head.weight"], Is.EqualTo(new long[] { 128256, 4096 }));
        Assert.That(byName.Keys.Any(k => k.Contains(".bias")), Is.False);
    }

    [Test]
    public void Tied_embeddings_have_no_lm_head()
    {
        var names = ModelConfig.Load(ConfigPath("llama-3.2-1b.json")).CanonicalTensors().Select(t => t.Name).ToList();
        Assert.That(names, Does.Not.Contain("lm_head.weight"));
        Assert.That(names[0], Is.EqualTo("model.embed_tokens.weight"));
        Assert.That(names[^1], Is.EqualTo("model.norm.weight"));
    }

    [Test]
    public void Tensors_come_in_named_parameters_order()
    {
        var names = ModelConfig.Load(Path.Combine(TestPaths.Fixtures, "hf", "tiny-pad-bf16", "config.json")).CanonicalTensors().Select(t => t.Name).ToList();
        string[] layer0 =
        [
            "self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight", "self_attn.o_proj.weight",
            "mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight",
            "input_layernorm.weight", "post_attention_layernorm.weight",
        ];
        Assert.That(names, Is.EqualTo(new[] { "model.embed_tokens.weight" }
            .Concat(layer0.Select(n => "model.layers.0." + n)).Concat(layer0.Select(n => "model.layers.1." + n))
            .Concat(["model.norm.weight", "lm_head.weight"])));
    }

    [Test]
    public void Tiny_fixture_config_gives_exactly_the_names_and_shapes_in_its_safetensors_header()
    {
        // The header as Python reads it (struct + json), independent of our code; explicit head_dim 16 with
        // hidden 65 and 4 heads (65/4 is not whole) checks that head_dim is taken from the config.
        string dir = Path.Combine(TestPaths.Fixtures, "hf", "tiny-pad-bf16");
        string json = TestPaths.RunPython("""
            import json, struct, sys
            with open(sys.argv[1], 'rb') as f:
                n = struct.unpack('<Q', f.read(8))[0]
                h = json.loads(f.read(n))
            h.pop('__metadata__', None)
            print(json.dumps({k: v['shape'] for k, v in h.items()}))
            """, Path.Combine(dir, "model.safetensors"));
        var header = JsonSerializer.Deserialize<Dictionary<string, long[]>>(json)!;
        var ours = ModelConfig.Load(dir).CanonicalTensors().ToDictionary(t => t.Name, t => t.Shape);
        Assert.That(ours.Keys, Is.EquivalentTo(header.Keys));
        foreach (var (name, shape) in header) Assert.That(ours[name], Is.EqualTo(shape), name);
    }

    [Test]
    public void Qwen2_has_qkv_biases_but_no_o_or_mlp_bias()
    {
        ModelConfig config = ParseConfig("""
            {"architectures":["Qwen2ForCausalLM"],"model_type":"qwen2","hidden_size":896,"intermediate_size":4864,
            "num_hidden_layers":24,"num_attention_heads":14,"num_key_value_heads":2,"vocab_size":151936,"tie_word_embeddings":true}
            """);
        var byName = config.CanonicalTensors().ToDictionary(t => t.Name, t => t.Shape);
        Assert.That(byName["model.layers.0.self_attn.q_proj.bias"], Is.EqualTo(new long[] { 896 }));
        Assert.That(byName["model.layers.0.self_attn.k_proj.bias"], Is.EqualTo(new long[] { 128 }));
        Assert.That(byName["model.layers.23.self_attn.v_proj.bias"], Is.EqualTo(new long[] { 128 }));
        Assert.That(byName.Keys.Count(k => k.EndsWith(".bias")), Is.EqualTo(3 * 24));
        // Qwen2.5-0.5B's published size: 494,032,768 parameters.
        Assert.That(config.CanonicalTensors().Sum(t => t.ElementCount), Is.EqualTo(494_032_768));
    }

    [Test]
    public void Llama_attention_and_mlp_bias_flags_add_biases_to_every_projection()
    {
        ModelConfig config = ParseConfig("""
            {"architectures":["LlamaForCausalLM"],"hidden_size":64,"intermediate_size":96,"num_hidden_layers":1,
            "num_attention_heads":4,"num_key_value_heads":2,"vocab_size":100,"attention_bias":true,"mlp_bias":true}
            """);
        var biases = config.CanonicalTensors().Where(t => t.Name.EndsWith(".bias")).ToDictionary(t => t.Name, t => t.Shape);
        Assert.That(biases, Has.Count.EqualTo(7));
        Assert.That(biases["model.layers.0.self_attn.o_proj.bias"], Is.EqualTo(new long[] { 64 }));
        Assert.That(biases["model.layers.0.self_attn.k_proj.bias"], Is.EqualTo(new long[] { 32 }));
        Assert.That(biases["model.layers.0.mlp.down_proj.bias"], Is.EqualTo(new long[] { 64 }));
        Assert.That(biases["model.layers.0.mlp.gate_proj.bias"], Is.EqualTo(new long[] { 96 }));
    }

    [Test]
    public void Mistral_ignores_bias_flags_because_its_layers_have_none()
    {
        ModelConfig config = ParseConfig("""
            {"architectures":["MistralForCausalLM"],"model_type":"mistral","hidden_size":4096,"intermediate_size":14336,
            "num_hidden_layers":32,"num_attention_heads":32,"num_key_value_heads":8,"vocab_size":32000,"attention_bias":true,"sliding_window":4096}
            """);
        Assert.That(config.CanonicalTensors().Any(t => t.Name.EndsWith(".bias")), Is.False);
        // Mistral-7B-v0.1's published size: 7,241,732,096 parameters.
        Assert.That(config.CanonicalTensors().Sum(t => t.ElementCount), Is.EqualTo(7_241_732_096));
    }

    [Test]
    public void Rotary_inv_freq_is_a_buffer_not_a_parameter()
    {
        Assert.That(LlamaFamily.Llama.IsBuffer("model.layers.3.self_attn.rotary_emb.inv_freq"), Is.True);
        Assert.That(LlamaFamily.Llama.IsBuffer("model.layers.3.self_attn.q_proj.weight"), Is.False);
    }

    [Test]
    public void A_config_of_another_family_is_refused()
    {
        ModelConfig qwen = ParseConfig("""
            {"architectures":["Qwen2ForCausalLM"],"hidden_size":8,"intermediate_size":8,"num_hidden_layers":1,"num_attention_heads":2,"vocab_size":10}
            """);
        Assert.That(() => LlamaFamily.Llama.CanonicalTensors(qwen), Throws.ArgumentException.With.Message.Contains("qwen2"));
    }

    internal static ModelConfig ParseConfig(string json) => ModelConfig.Parse(System.Text.Encoding.UTF8.GetBytes(json), "test/config.json");
}
