using Ckptmpi.Errors;
using Ckptmpi.Model;

namespace Ckptmpi.Tests.Model;

/// <summary>Every family's canonical tensors are its <c>named_parameters()</c>, in order, as written out in <see cref="FamilyCase"/>.</summary>
public sealed class FamilyOrderTests
{
    private static IEnumerable<FamilyCase> Cases() => FamilyCase.All;

    private static ModelConfig Parse(string json) => ModelConfig.Parse(System.Text.Encoding.UTF8.GetBytes(json), "dir/config.json");

    [TestCaseSource(nameof(Cases))]
    public void Canonical_tensors_are_named_parameters_in_order_with_their_shapes(FamilyCase c)
    {
        IReadOnlyList<CanonicalTensor> tensors = Parse(c.ConfigJson).CanonicalTensors();
        Assert.That(tensors.Select(t => t.Name), Is.EqualTo(c.Expected.Select(p => p.Name)));
        Assert.That(tensors.Select(t => t.Shape), Is.EqualTo(c.Expected.Select(p => p.Shape)));
    }

    [TestCaseSource(nameof(Cases))]
    public void Tying_follows_the_config_class_default_and_names_the_embedding(FamilyCase c)
    {
        ModelConfig config = Parse(c.ConfigJson);
        Assert.That(config.Tied is null ? ((string, string)?)null : (config.Tied.Head, config.Tied.Embedding), Is.EqualTo(c.Tied));
        Assert.That(config.Family.Tied.Embedding, Is.EqualTo(c.Expected[0].Name), "every family's embedding is its first parameter");
    }

    [Test]
    public void Every_registered_family_has_a_case()
    {
        var covered = FamilyCase.All.Select(c => Parse(c.ConfigJson).Family).Append(LlamaFamily.Llama).Append(LlamaFamily.Mistral).Append(LlamaFamily.Qwen2).Distinct();
        Assert.That(covered, Is.EquivalentTo(ModelFamilies.All));
    }

    [TestCase("transformer.h.0.attn.bias", true)]
    [TestCase("transformer.h.11.attn.masked_bias", true)]
    [TestCase("transformer.h.0.attn.c_attn.bias", false)]
    [TestCase("transformer.h.0.attn.c_proj.bias", false)]
    public void GPT_2_causal_mask_buffers_are_buffers_and_projection_biases_are_not(string name, bool buffer)
    {
        Assert.That(Gpt2Family.Instance.IsBuffer(name), Is.EqualTo(buffer));
    }

    [Test]
    public void GPT_2_with_cross_attention_is_refused_and_falcon_rejects_an_impossible_layer_norm_count()
    {
        string gpt2 = FamilyCase.All.Single(c => c.Name == "gpt2").ConfigJson;
        Assert.That(() => Parse(gpt2.Replace("\"n_inner\": null", "\"add_cross_attention\": true")), Throws.TypeOf<UnsupportedCheckpointException>().With.Message.Contains("add_cross_attention"));
        string falcon = FamilyCase.All.Single(c => c.Name == "falcon-new").ConfigJson;
        Assert.That(() => Parse(falcon.Replace("\"bias\": false", "\"num_ln_in_parallel_attn\": 3")), Throws.TypeOf<CheckpointFormatException>().With.Message.Contains("num_ln_in_parallel_attn"));
    }

    [Test]
    public void Old_falcon_config_keys_are_read_as_transformers_maps_them()
    {
        string old = "{\"architectures\": [\"FalconForCausalLM\"], \"n_embed\": 16, \"n_head\": 4, \"n_layer\": 2, \"n_head_kv\": 2, \"vocab_size\": 64, \"new_decoder_architecture\": true}";
        ModelConfig c = Parse(old);
        Assert.That((c.HiddenSize, c.NumAttentionHeads, c.NumHiddenLayers, c.NumKeyValueHeads, c.IntermediateSize), Is.EqualTo((16L, 4L, 2L, 2L, 64L)));
        Assert.That(c.CanonicalTensors().Select(t => t.Name), Does.Contain("transformer.h.1.ln_mlp.weight"), "two layer norms by default with the new architecture");
    }
}
