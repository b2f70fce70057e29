using System.Text;
using Ckptmpi.Errors;
using Ckptmpi.Model;

namespace Ckptmpi.Tests.Model;

public sealed class ModelConfigTests
{
    private static ModelConfig Parse(string json) => ModelConfig.Parse(Encoding.UTF8.GetBytes(json), "dir/config.json");

    private const string Minimal = "\"hidden_size\":4096,\"intermediate_size\":11008,\"num_hidden_layers\":32,\"num_attention_heads\":32,\"vocab_size\":32000";

    [Test]
    public void Llama_3_3_70b_config_is_read_with_its_values()
    {
        ModelConfig c = ModelConfig.Load(Path.Combine(TestPaths.Fixtures, "configs", "llama-3.3-70b-instruct.json"));
        Assert.Multiple(() =>
        {
            Assert.That(c.Architecture, Is.EqualTo("LlamaForCausalLM"));
            Assert.That(c.Family, Is.SameAs(LlamaFamily.Llama));
            Assert.That((c.HiddenSize, c.IntermediateSize, c.NumHiddenLayers), Is.EqualTo((8192L, 28672L, 80L)));
            Assert.That((c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDim, c.VocabSize), Is.EqualTo((64L, 8L, 128L, 128256L)));
            Assert.That(c.TieWordEmbeddings, Is.False);
            Assert.That(c.DeclaredDType, Is.EqualTo("bfloat16"));
        });
    }

    [Test]
    public void A_directory_path_reads_its_config_json()
    {
        ModelConfig c = ModelConfig.Load(Path.Combine(TestPaths.Fixtures, "hf", "tiny-pad-bf16"));
        Assert.That((c.HiddenSize, c.HeadDim, c.NumKeyValueHeads), Is.EqualTo((65L, 16L, 2L)));
        Assert.That(c.Path, Does.EndWith("config.json"));
    }

    [Test]
    public void Missing_num_key_value_heads_and_head_dim_default_as_transformers_does()
    {
        ModelConfig c = Parse("{\"architectures\":[\"LlamaForCausalLM\"]," + Minimal + ",\"num_key_value_heads\":null}");
        Assert.That(c.NumKeyValueHeads, Is.EqualTo(32), "no GQA: nkv = nq");
        Assert.That(c.HeadDim, Is.EqualTo(128), "hidden_size / num_attention_heads");
        Assert.That(c.TieWordEmbeddings, Is.False);
    }

    [Test]
    public void Model_type_alone_selects_the_family_when_architectures_is_absent()
    {
        Assert.That(Parse("{\"model_type\":\"mistral\"," + Minimal + "}").Family, Is.SameAs(LlamaFamily.Mistral));
    }

    [Test]
    public void An_unknown_architecture_is_unsupported_and_the_message_lists_every_supported_one()
    {
        // Gemma's config lacks nothing we would read; the refusal must name the architecture, not a missing key.
        var e = Assert.Throws<UnsupportedCheckpointException>(() => Parse("{\"architectures\":[\"Gemma3ForCausalLM\"]}"))!;
        Assert.That(e.Message, Does.Contain("dir/config.json").And.Contain("'Gemma3ForCausalLM' is not supported"));
        foreach (string name in ModelFamilies.Names) Assert.That(e.Message, Does.Contain(name));
        Assert.That(ModelFamilies.Names, Is.EquivalentTo(new[]
        {
            "LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM", "GemmaForCausalLM", "Gemma2ForCausalLM", "MixtralForCausalLM",
            "Phi3ForCausalLM", "GPTNeoXForCausalLM", "GPT2LMHeadModel", "FalconForCausalLM",
        }));
    }

    [Test]
    public void A_config_naming_no_family_at_all_is_unsupported()
    {
        Assert.That(() => Parse("{" + Minimal + "}"), Throws.TypeOf<UnsupportedCheckpointException>().With.Message.Contains("LlamaForCausalLM"));
    }

    [TestCase("hidden_size")]
    [TestCase("vocab_size")]
    [TestCase("num_hidden_layers")]
    public void A_missing_required_key_is_a_format_error_naming_the_key_and_file(string key)
    {
        string json = "{\"architectures\":[\"LlamaForCausalLM\"]," + string.Join(",", Minimal.Split(',').Where(p => !p.StartsWith($"\"{key}\""))) + "}";
        var e = Assert.Throws<CheckpointFormatException>(() => Parse(json))!;
        Assert.That(e.Path, Is.EqualTo("dir/config.json"));
        Assert.That(e.Message, Does.Contain(key));
    }

    [TestCase("hidden_size", "\"4096\"", "must be an integer")]
    [TestCase("hidden_size", "0", "at least 1")]
    [TestCase("num_key_value_heads", "5", "not a multiple")]
    [TestCase("tie_word_embeddings", "\"yes\"", "true or false")]
    public void Out_of_range_values_are_format_errors(string key, string rawValue, string expected)
    {
        var fields = Minimal.Split(',').Where(p => !p.StartsWith($"\"{key}\"")).Append($"\"{key}\":{rawValue}");
        string json = "{\"architectures\":[\"LlamaForCausalLM\"]," + string.Join(",", fields) + "}";
        Assert.That(() => Parse(json), Throws.TypeOf<CheckpointFormatException>().With.Message.Contains(expected).And.Message.Contains(key));
    }

    [Test]
    public void Text_that_is_not_json_is_a_format_error()
    {
        Assert.That(() => Parse("{\"architectures\": [\"LlamaForCausalLM\""), Throws.TypeOf<CheckpointFormatException>().With.Message.Contains("not valid JSON"));
        Assert.That(() => Parse("[1,2]"), Throws.TypeOf<CheckpointFormatException>().With.Message.Contains("JSON object"));
    }

    [Test]
    public void A_missing_file_is_file_not_found()
    {
        Assert.That(() => ModelConfig.Load("/nonexistent/config.json"), Throws.TypeOf<FileNotFoundException>());
    }
}
