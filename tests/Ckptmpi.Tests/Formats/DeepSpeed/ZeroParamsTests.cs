using System.Diagnostics;
using Ckptmpi.Formats.DeepSpeed;
using Ckptmpi.Formats.Safetensors;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Tests.Formats.DeepSpeed;

public sealed class ZeroParamsTests
{
    private static SourceCatalog Hf => SafetensorsCheckpoint.Open(Path.Combine(TestPaths.Fixtures, "hf", "tiny-pad-bf16"));

    private static string TinyConfig => File.ReadAllText(Path.Combine(DeepSpeedFixtures.Root, "config.json"));

    private static IReadOnlyList<ParamSpec> For(SourceCatalog c, string? config, string? order = null) =>
        ZeroParams.For(c, config, Path.Combine(c.Root, "config.json"), order, "order.txt");

    [Test]
    public void Params_of_a_HF_checkpoint_come_in_named_parameters_order_with_their_dtype()
    {
        var specs = For(Hf, TinyConfig);
        Assert.That(specs.Select(p => p.Name), Is.EqualTo(DeepSpeedFixtures.TinyPadParams.Select(p => p.Name)));
        Assert.That(specs.All(p => p.DType == DType.BF16 && p.Trainable && p.TiedTo is null));
    }

    [Test]
    public void Tied_word_embeddings_make_lm_head_an_alias_even_when_the_source_omits_it()
    {
        SourceCatalog hf = Hf;
        var without = new SourceCatalog(hf.Root, hf.Tensors.Where(t => t.Name != "lm_head.weight").ToList());
        string tied = TinyConfig.Replace("\"tie_word_embeddings\": false", "\"tie_word_embeddings\": true");
        Assert.That(tied, Is.Not.EqualTo(TinyConfig));
        foreach (SourceCatalog c in new[] { hf, without })
        {
            ParamSpec head = For(c, tied).Last();
            Assert.That((head.Name, head.TiedTo), Is.EqualTo(("lm_head.weight", "model.embed_tokens.weight")));
            Assert.That(head.Shape, Is.EqualTo(new long[] { 256, 65 }));
        }
    }

    [Test]
    public void Rotary_inv_freq_buffers_of_old_checkpoints_are_left_out_by_the_reader_and_are_not_params()
    {
        SourceCatalog hf = Hf;
        var extra = new SourceTensor("model.layers.0.self_attn.rotary_emb.inv_freq", DType.F32, [8], hf["model.norm.weight"].Pieces);
        var c = new SourceCatalog(hf.Root, [.. hf.Tensors, extra]);
        Assert.That(() => For(c, TinyConfig), Throws.TypeOf<Ckptmpi.Errors.CheckpointFormatException>().With.Message.Contains("inv_freq"), "not a parameter");
        SourceCatalog read = IgnoredTensors.Drop(c, Path.Combine(DeepSpeedFixtures.Root, "config.json"));
        Assert.That(For(read, TinyConfig).Select(p => p.Name), Is.EqualTo(DeepSpeedFixtures.TinyPadParams.Select(p => p.Name)));
    }

    [Test]
    public void Without_config_json_or_with_an_unknown_architecture_the_order_is_unknown_and_the_message_says_how_to_go_on()
    {
        string unknown = TinyConfig.Replace("LlamaForCausalLM", "NewModelForCausalLM").Replace("\"llama\"", "\"newmodel\"");
        foreach (string? config in new[] { null, unknown })
        {
            var e = Assert.Throws<Ckptmpi.Errors.UnsupportedCheckpointException>(() => For(Hf, config))!;
            Assert.That(e.Message, Does.Contain(config is null ? "no config.json" : "'NewModelForCausalLM' is not supported"));
            Assert.That(e.Message, Does.Contain("--param-order FILE").And.Contain("named_parameters()").And.Contain("scrambled"));
            Assert.That(e.Message, Does.Contain("AutoModelForCausalLM.from_config(t.AutoConfig.from_pretrained('" + Hf.Root + "'))"));
            foreach (string name in Ckptmpi.Model.ModelFamilies.Names) Assert.That(e.Message, Does.Contain(name));
        }
    }

    [Test]
    public void A_param_order_file_gives_the_order_of_an_unknown_model_and_must_name_exactly_the_source_tensors()
    {
        string[] reversed = DeepSpeedFixtures.TinyPadParams.Select(p => p.Name).Reverse().ToArray();
        string text = "# from named_parameters()\n" + string.Join("\n", reversed) + "\n\n";
        Assert.That(For(Hf, null, text).Select(p => p.Name), Is.EqualTo(reversed), "the file's order, whatever it is");
        Assert.That(For(Hf, TinyConfig, text).Select(p => p.Name), Is.EqualTo(reversed), "the file wins over a known family");

        var missing = Assert.Throws<Ckptmpi.Errors.CheckpointFormatException>(() => For(Hf, null, text + "model.extra.weight\n"))!;
        Assert.That(missing.Message, Does.Contain("does not have").And.Contain("model.extra.weight"));
        var extra = Assert.Throws<Ckptmpi.Errors.CheckpointFormatException>(() => For(Hf, null, string.Join("\n", reversed.Where(n => n != "model.norm.weight"))))!;
        Assert.That(extra.Message, Does.Contain("missing from --param-order").And.Contain("model.norm.weight"));
        var twice = Assert.Throws<Ckptmpi.Errors.CheckpointFormatException>(() => For(Hf, null, text + reversed[3] + "\n"))!;
        Assert.That(twice.Message, Does.Contain("more than once").And.Contain(reversed[3]));
    }

    /// <summary>Llama-3.3-70B shapes (723 tensors): the layout is pure metadata and must stay cheap at dp 48.</summary>
    [TestCase(1)]
    [TestCase(3)]
    public void A_70B_layout_for_dp_48_is_planned_in_seconds(int stage)
    {
        var specs = new List<ParamSpec> { new("model.embed_tokens.weight", [128256, 8192], DType.BF16) };
        for (int l = 0; l < 80; l++)
        {
            string p = $"model.layers.{l}.";
            specs.Add(new(p + "self_attn.q_proj.weight", [8192, 8192], DType.BF16));
            specs.Add(new(p + "self_attn.k_proj.weight", [1024, 8192], DType.BF16));
            specs.Add(new(p + "self_attn.v_proj.weight", [1024, 8192], DType.BF16));
            specs.Add(new(p + "self_attn.o_proj.weight", [8192, 8192], DType.BF16));
            specs.Add(new(p + "mlp.gate_proj.weight", [28672, 8192], DType.BF16));
            specs.Add(new(p + "mlp.up_proj.weight", [28672, 8192], DType.BF16));
            specs.Add(new(p + "mlp.down_proj.weight", [8192, 28672], DType.BF16));
            specs.Add(new(p + "input_layernorm.weight", [8192], DType.BF16));
            specs.Add(new(p + "post_attention_layernorm.weight", [8192], DType.BF16));
        }
        specs.Add(new("model.norm.weight", [8192], DType.BF16));
        specs.Add(new("lm_head.weight", [128256, 8192], DType.BF16));
        var clock = Stopwatch.StartNew();
        OutputLayout layout = ZeroCheckpointLayout.For(specs, new ZeroWriteOptions { Stage = stage, DpSize = 48 });
        clock.Stop();
        TestContext.Out.WriteLine($"stage {stage}: {layout.Files.Count} files, {layout.TotalBytes / 1e9:F1} GB, planned in {clock.Elapsed.TotalSeconds:F2} s");
        long elements = specs.Sum(p => p.ElementCount);
        Assert.That(elements, Is.EqualTo(70_553_706_496L));
        long fp32Bytes = layout.Files.SelectMany(f => f.Segments).OfType<TensorSegment>().Where(s => s.DType == DType.F32).Sum(s => s.Length);
        Assert.That(fp32Bytes, Is.EqualTo(elements * 4), "every element once in the fp32 partitions");
        Assert.That(clock.Elapsed.TotalSeconds, Is.LessThan(20));
    }
}

public sealed class ZeroParamsFromModelTests
{
    private static string HfDir => Path.Combine(TestPaths.Fixtures, "hf", "tiny-pad-bf16");

    [Test]
    public void Params_from_config_json_are_in_named_parameters_order_and_match_the_fixture_layout()
    {
        var config = Ckptmpi.Model.ModelConfig.Load(Path.Combine(DeepSpeedFixtures.Root, "config.json"));
        var specs = ZeroParams.FromModel(config, SafetensorsCheckpoint.Open(HfDir));
        Assert.That(specs.Select(p => p.Name), Is.EqualTo(DeepSpeedFixtures.TinyPadParams.Select(p => p.Name)));
        Assert.That(specs.Select(p => p.Shape), Is.EqualTo(DeepSpeedFixtures.TinyPadParams.Select(p => p.Shape)));
    }

    [Test]
    public void A_config_that_contradicts_the_shapes_is_refused()
    {
        string dir = TestPaths.NewTempDir();
        string cfg = File.ReadAllText(Path.Combine(DeepSpeedFixtures.Root, "config.json")).Replace("\"intermediate_size\": 128", "\"intermediate_size\": 96");
        File.WriteAllText(Path.Combine(dir, "config.json"), cfg);
        var config = Ckptmpi.Model.ModelConfig.Load(Path.Combine(dir, "config.json"));
        Assert.That(() => ZeroParams.FromModel(config, SafetensorsCheckpoint.Open(HfDir)), Throws.TypeOf<Ckptmpi.Errors.ShapeMismatchException>());
    }
}
