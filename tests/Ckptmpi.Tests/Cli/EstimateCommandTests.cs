using System.Text.Json;
using Ckptmpi.Cli;
using Ckptmpi.Tests.Conversion.Estimate;

namespace Ckptmpi.Tests.Cli;

/// <summary><c>ckptmpi estimate</c> run as the real program.</summary>
public sealed class EstimateCommandTests
{
    private static string Config(string file) => Path.Combine(TestPaths.Fixtures, "configs", file);

    private static ProcessResult Estimate(params string[] args) => TestPaths.RunCkptmpi(["estimate", .. args], timeoutSeconds: 120);

    [Test]
    public void Llama_3_3_70b_automodel_on_4_nodes_of_12_gpus_prints_deepspeeds_zero3_table_verbatim()
    {
        DeepSpeedReferenceTable reference = DeepSpeedReferenceTable.Load();
        ProcessResult r = Estimate("--model", Config("llama-3.3-70b-instruct.json"), "--gpus-per-node", reference.GpusPerNode.ToString(),
            "--nodes", reference.Nodes.ToString(), "--exclude", "lm_head", "--stage", "3");
        Assert.That(r.ExitCode, Is.EqualTo(0), r.ToString());
        Assert.That(r.Stdout, Does.EndWith("\n\nZeRO-3 (DeepSpeed estimate_zero3_model_states_mem_needs_all_live):\n" + reference.ExpectedDeepSpeedText()));
        Assert.That(r.Stdout, Does.Contain("Total parameters: 69,503,033,344\n"));
        Assert.That(r.Stdout, Does.Contain("Largest layer: model.embed_tokens (1,050,673,152 parameters)\n"));
        Assert.That(r.Stdout, Does.Not.Contain("ZeRO-2"));
    }

    [Test]
    public void Without_exclude_the_causal_lm_with_its_head_is_counted_and_both_tables_print()
    {
        ProcessResult r = Estimate("--model", Config("llama-3.3-70b-instruct.json"), "--gpus-per-node", "12", "--nodes", "4");
        Assert.That(r.ExitCode, Is.EqualTo(0), r.ToString());
        Assert.That(r.Stdout, Does.Contain("SW: Model with 70553M total params, 1050M largest layer params.\n"));
        Assert.That(r.Stdout, Does.Contain("SW: Model with 70553M total params.\n"));
        Assert.That(r.Stdout.IndexOf("ZeRO-3 (", StringComparison.Ordinal), Is.LessThan(r.Stdout.IndexOf("ZeRO-2 (", StringComparison.Ordinal)));
    }

    [Test]
    public void Json_output_carries_the_same_numbers_as_the_table()
    {
        DeepSpeedReferenceTable reference = DeepSpeedReferenceTable.Load();
        ProcessResult r = Estimate("--model", Config("llama-3.3-70b-instruct.json"), "--gpus-per-node", "12", "--nodes", "4", "--exclude", "lm_head", "--json");
        Assert.That(r.ExitCode, Is.EqualTo(0), r.ToString());
        using JsonDocument doc = JsonDocument.Parse(r.Stdout);
        JsonElement root = doc.RootElement;
        Assert.That(root.GetProperty("total_params").GetInt64(), Is.EqualTo(69_503_033_344));
        Assert.That(root.GetProperty("total_params_millions").GetInt64(), Is.EqualTo(reference.TotalMillions));
        Assert.That(root.GetProperty("largest_layer_params_millions").GetInt64(), Is.EqualTo(reference.LargestMillions));
        Assert.That(root.GetProperty("largest_layer_module").GetString(), Is.EqualTo("model.embed_tokens"));
        Assert.That(root.GetProperty("excluded_tensors")[0].GetString(), Is.EqualTo("lm_head.weight"));
        JsonElement[] rows = root.GetProperty("zero3").GetProperty("rows").EnumerateArray().ToArray();
        Assert.That(rows, Has.Length.EqualTo(6));
        for (int i = 0; i < 6; i++)
        {
            Assert.That(rows[i].GetProperty("cpu_gb").GetRawText() + "GB", Is.EqualTo(reference.Rows[i].Cpu), $"row {i}");
            Assert.That(rows[i].GetProperty("gpu_gb").GetRawText() + "GB", Is.EqualTo(reference.Rows[i].Gpu), $"row {i}");
            Assert.That(rows[i].GetProperty("cpu_bytes").GetInt64() / (double)(1L << 30), Is.EqualTo(rows[i].GetProperty("cpu_gb").GetDouble()).Within(0.005));
        }
        Assert.That(root.GetProperty("zero2").GetProperty("rows").GetArrayLength(), Is.EqualTo(2));
        Assert.That(root.GetProperty("compute_seconds").GetDouble(), Is.LessThan(1.0), "estimating from config.json is metadata work");
    }

    [TestCase("tiny-pad-bf16")]
    [TestCase("tiny-pad-fp32-sharded")]
    public void An_hf_directory_read_through_its_safetensors_headers_gives_the_same_estimate_as_its_config_json(string fixture)
    {
        string dir = Path.Combine(TestPaths.Fixtures, "hf", fixture);
        ProcessResult fromDir = Estimate("--model", dir, "--json", "--gpus-per-node", "4", "--nodes", "2");
        ProcessResult fromConfig = Estimate("--model", Path.Combine(dir, "config.json"), "--json", "--gpus-per-node", "4", "--nodes", "2");
        Assert.That(fromDir.ExitCode, Is.EqualTo(0), fromDir.ToString());
        Assert.That(fromConfig.ExitCode, Is.EqualTo(0), fromConfig.ToString());
        using JsonDocument a = JsonDocument.Parse(fromDir.Stdout), b = JsonDocument.Parse(fromConfig.Stdout);
        Assert.That(a.RootElement.GetProperty("source").GetString(), Is.EqualTo("safetensors"));
        Assert.That(b.RootElement.GetProperty("source").GetString(), Is.EqualTo("config.json"));
        foreach (string key in (string[])["total_params", "largest_layer_params", "tensors", "modules"])
            Assert.That(a.RootElement.GetProperty(key).GetInt64(), Is.EqualTo(b.RootElement.GetProperty(key).GetInt64()), key);
        Assert.That(a.RootElement.GetProperty("largest_layer_module").GetString(), Is.EqualTo(b.RootElement.GetProperty("largest_layer_module").GetString()));
        Assert.That(a.RootElement.GetProperty("zero3").GetRawText(), Is.EqualTo(b.RootElement.GetProperty("zero3").GetRawText()));
        Assert.That(a.RootElement.GetProperty("zero2").GetRawText(), Is.EqualTo(b.RootElement.GetProperty("zero2").GetRawText()));
        // 2 x 256 x 65 embeddings + 2 layers x (q 64x65 + k,v 32x65 + o 65x64 + 3 x 128x65 + 2 x 65) + 65
        Assert.That(a.RootElement.GetProperty("total_params").GetInt64(), Is.EqualTo(2 * 256 * 65 + 2 * (64 * 65 * 2 + 32 * 65 * 2 + 3 * 128 * 65 + 2 * 65) + 65));
    }

    [Test]
    public void Safetensors_of_an_architecture_without_a_family_are_still_counted_from_their_headers()
    {
        string dir = TestPaths.NewTempDir();
        string src = Path.Combine(TestPaths.Fixtures, "hf", "tiny-pad-bf16");
        File.Copy(Path.Combine(src, "model.safetensors"), Path.Combine(dir, "model.safetensors"));
        File.WriteAllText(Path.Combine(dir, "config.json"), """{"architectures":["SomeNewForCausalLM"]}""");
        ProcessResult r = Estimate("--model", dir, "--stage", "2");
        Assert.That(r.ExitCode, Is.EqualTo(0), r.ToString());
        Assert.That(r.Stdout, Does.Contain("unknown architecture, shapes from safetensors headers, 21 tensors").And.Contain("Total parameters: 108,485\n"));
        Directory.Delete(dir, recursive: true);
    }

    [Test]
    public void An_unknown_architecture_fails_with_bad_input_and_lists_the_supported_ones()
    {
        string dir = TestPaths.NewTempDir();
        string config = Path.Combine(dir, "config.json");
        File.WriteAllText(config, """{"architectures":["MambaForCausalLM"],"hidden_size":8,"num_hidden_layers":1}""");
        ProcessResult r = Estimate("--model", config);
        Assert.That(r.ExitCode, Is.EqualTo(ExitCodes.BadInput), r.ToString());
        Assert.That(r.Stderr, Does.Contain("'MambaForCausalLM' is not supported").And.Contain("LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM").And.Contain("GPTNeoXForCausalLM"));
        Directory.Delete(dir, recursive: true);
    }

    [Test]
    public void A_bad_regular_expression_is_a_usage_error()
    {
        ProcessResult r = Estimate("--model", Config("llama-2-7b.json"), "--exclude", "lm_head(");
        Assert.That(r.ExitCode, Is.EqualTo(ExitCodes.Usage), r.ToString());
        Assert.That(r.Stderr, Does.Contain("--exclude 'lm_head(' is not a valid regular expression"));
    }

    [TestCase("--gpus-per-node", "0")]
    [TestCase("--nodes", "-1")]
    [TestCase("--additional-buffer-factor", "0")]
    public void Nonsense_cluster_shapes_are_usage_errors(string option, string value)
    {
        ProcessResult r = Estimate("--model", Config("llama-2-7b.json"), option, value);
        Assert.That(r.ExitCode, Is.EqualTo(ExitCodes.Usage), r.ToString());
        Assert.That(r.Stderr, Does.Contain(option));
    }

    [Test]
    public void A_cluster_so_large_that_bytes_overflow_64_bits_is_a_usage_error_not_a_crash()
    {
        ProcessResult r = Estimate("--model", Config("llama-3.1-405b.json"), "--gpus-per-node", "65536", "--nodes", "1048576");
        Assert.That(r.ExitCode, Is.EqualTo(ExitCodes.Usage), r.ToString());
        Assert.That(r.Stderr, Does.Contain("beyond what DeepSpeed's arithmetic can be reproduced exactly for"));
    }

    [Test]
    public void A_missing_model_path_is_an_io_error_naming_it()
    {
        ProcessResult r = Estimate("--model", "/nonexistent/model");
        Assert.That(r.ExitCode, Is.EqualTo(ExitCodes.IoError), r.ToString());
        Assert.That(r.Stderr, Does.Contain("/nonexistent/model"));
    }
}
