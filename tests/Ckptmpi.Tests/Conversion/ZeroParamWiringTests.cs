using Ckptmpi.Formats.DeepSpeed;
using Ckptmpi.Conversion;
using Ckptmpi.Conversion.Demo;
using Ckptmpi.Errors;
using Ckptmpi.Formats.Safetensors;
using Ckptmpi.Formats.Torch;
using Ckptmpi.Formats.Torch.Pickle;
using Ckptmpi.Parallel;
using Ckptmpi.Tensors;

namespace Ckptmpi.Tests.Conversion;

/// <summary>
/// HF -> ZeRO takes its parameter list from config.json when there is one: tied embeddings become DeepSpeed's alias,
/// and shapes that contradict the config are refused before anything is written.
/// </summary>
public sealed class ZeroParamWiringTests
{
    private string _dir = null!;

    [SetUp]
    public void SetUp()
    {
        _dir = TestPaths.NewTempDir();
        Ckptmpi.Parallel.CollectivePhase.ExitCodeOf = Ckptmpi.Cli.ExitCodes.For; // as the CLI installs it
    }

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    private static DemoModel Small(bool tied) => new() { HiddenSize = 32, IntermediateSize = 64, Layers = 1, VocabSize = 96, Heads = 4, KvHeads = 2, TieWordEmbeddings = tied };

    private ConvertRequest ToZero(string input, string output) => new()
    {
        From = "hf", To = "zero", Input = input, Output = output, FormatOptions = [TrainingSettingsForTests.Zero(2, 2)], DType = DType.BF16, MaxBuffer = 64 << 10,
    };

    [Test]
    public void A_tied_model_gets_lm_head_in_module_and_shared_params_and_round_trips_with_it()
    {
        string hf = Path.Combine(_dir, "hf"), zero = Path.Combine(_dir, "zero"), back = Path.Combine(_dir, "back");
        Small(tied: true).Write(hf);
        Assert.That(SafetensorsCheckpoint.Open(hf).Contains("lm_head.weight"), Is.False, "transformers saves no lm_head for a tied model");

        ThreadCommunicator.Run(2, comm => ConversionJob.Run(comm, ToZero(hf, zero)), TimeSpan.FromSeconds(60));

        TorchArchive model = TorchArchive.Open(Path.Combine(zero, "global_step0", "mp_rank_00_model_states.pt"));
        var root = (PyDict)model.Root;
        var module = (PyDict)root.Get("module")!;
        var embed = (PyTensor)module.Get("model.embed_tokens.weight")!;
        var head = (PyTensor)module.Get("lm_head.weight")!;
        Assert.That(head.Storage, Is.SameAs(embed.Storage), "the alias shares the embedding's storage, as DeepSpeed saves it");
        Assert.That(head.StorageOffset, Is.EqualTo(embed.StorageOffset));
        var shared = (PyDict)root.Get("shared_params")!;
        Assert.That(((PyString)shared.Get("lm_head.weight")!).Value, Is.EqualTo("model.embed_tokens.weight"));

        ThreadCommunicator.Run(2, comm => ConversionJob.Run(comm, new ConvertRequest { From = "zero", To = "hf", Input = zero, Output = back, DType = DType.BF16, MaxBuffer = 64 << 10 }), TimeSpan.FromSeconds(60));
        var result = SafetensorsCheckpoint.Open(back);
        Assert.That(result.Contains("lm_head.weight"), Is.True, "the reverse conversion writes the tied name too");
        Assert.That(result["lm_head.weight"].Shape, Is.EqualTo(result["model.embed_tokens.weight"].Shape));
    }

    [Test]
    public void A_shape_that_contradicts_config_json_is_refused_naming_the_tensor_and_nothing_is_written()
    {
        string hf = Path.Combine(_dir, "hf"), zero = Path.Combine(_dir, "zero");
        Small(tied: false).Write(hf);
        string config = Path.Combine(hf, "config.json");
        File.WriteAllText(config, File.ReadAllText(config).Replace("\"intermediate_size\": 64", "\"intermediate_size\": 65"));

        var e = Assert.Throws<RankFailedException>(() => ThreadCommunicator.Run(2, comm => ConversionJob.Run(comm, ToZero(hf, zero)), TimeSpan.FromSeconds(60)));
        Assert.That(e!.Message, Does.Contain("mlp").And.Contain("config.json"));
        Assert.That(e.ExitCode, Is.EqualTo(3));
        Assert.That(Directory.Exists(zero) && Directory.EnumerateFileSystemEntries(zero).Any(), Is.False);
    }

    [Test]
    public void Optimizer_options_on_the_command_line_end_up_in_param_groups()
    {
        string hf = Path.Combine(_dir, "hf"), zero = Path.Combine(_dir, "zero");
        Small(tied: false).Write(hf);
        ConvertRequest parsed = Ckptmpi.Cli.Commands.ConvertCommand.Parse("--from", "hf", "--to", "zero", "--input", hf, "--output", zero, "--zero-stage", "2", "--dp-size", "2",
            "--dtype", "bf16", "--max-buffer", "64KiB", "--optimizer", "adam", "--lr", "3e-4", "--betas", "0.9, 0.95", "--eps", "1e-6", "--weight-decay", "0.1", "--gradient-clipping", "0.5");
        ThreadCommunicator.Run(2, comm => ConversionJob.Run(comm, parsed), TimeSpan.FromSeconds(60));

        var root = (PyDict)TorchArchive.Open(Path.Combine(zero, "global_step0", "bf16_zero_pp_rank_1_mp_rank_00_optim_states.pt")).Root;
        var osd = (PyDict)root.Get("optimizer_state_dict")!;
        var group = (PyDict)((PyList)((PyDict)osd.Get("base_optimizer_state")!).Get("param_groups")!).Items[0];
        Assert.That(((PyFloat)group.Get("lr")!).Value, Is.EqualTo(3e-4));
        var betas = (PyList)group.Get("betas")!; // a list, as DeepSpeed passes the ds_config's JSON array on (see the fixtures)
        Assert.That(betas.Items.Select(b => ((PyFloat)b).Value), Is.EqualTo(new[] { 0.9, 0.95 }));
        Assert.That(((PyFloat)group.Get("eps")!).Value, Is.EqualTo(1e-6));
        Assert.That(((PyFloat)group.Get("weight_decay")!).Value, Is.EqualTo(0.1));
        var dsConfig = (PyDict)root.Get("ds_config")!;
        Assert.That(((PyString)((PyDict)dsConfig.Get("optimizer")!).Get("type")!).Value, Is.EqualTo("Adam"));
        Assert.That(((PyFloat)osd.Get("clip_grad")!).Value, Is.EqualTo(0.5), "DeepSpeed restores clip_grad from here over the training config");
    }

    [Test]
    public void The_ds_config_settings_are_what_the_optimizer_files_hold_clip_grad_loss_scaler_and_param_groups()
    {
        string hf = Path.Combine(_dir, "hf"), zero = Path.Combine(_dir, "zero"), ds = Path.Combine(_dir, "ds_config.json");
        Small(tied: false).Write(hf);
        File.WriteAllText(ds, """
            {"optimizer": {"type": "AdamW", "params": {"lr": 2e-4, "betas": [0.85, 0.97], "eps": 1e-7, "weight_decay": 0.05}},
             "gradient_clipping": 0.6, "zero_optimization": {"stage": 2},
             "fp16": {"enabled": true, "loss_scale": 0, "initial_scale_power": 11, "loss_scale_window": 250, "hysteresis": 4, "min_loss_scale": 0.25}}
            """);
        var request = new ConvertRequest { From = "hf", To = "zero", Input = hf, Output = zero, MaxBuffer = 64 << 10, FormatOptions = [new ZeroOptions { DpSize = 2, DsConfig = ds }] };
        ThreadCommunicator.Run(2, comm => ConversionJob.Run(comm, request), TimeSpan.FromSeconds(60));

        foreach (string file in new[] { "zero_pp_rank_0_mp_rank_00_optim_states.pt", "zero_pp_rank_1_mp_rank_00_optim_states.pt" })
        {
            var root = (PyDict)TorchArchive.Open(Path.Combine(zero, "global_step0", file)).Root;
            var osd = (PyDict)root.Get("optimizer_state_dict")!;
            Assert.That(((PyFloat)osd.Get("clip_grad")!).Value, Is.EqualTo(0.6), "DeepSpeed restores clip_grad from here over the training config");
            var scaler = (PyDict)((PyObject)osd.Get("loss_scaler")!).State!;
            Assert.That(new[] { "cur_scale", "scale_window", "min_scale", "delayed_shift" }.Select(k => Number(scaler.Get(k))), Is.EqualTo(new[] { 2048.0, 250, 0.25, 4 }));
            Assert.That(osd.Get("dynamic_loss_scale"), Is.EqualTo(PyBool.True));
            var group = (PyDict)((PyList)((PyDict)osd.Get("base_optimizer_state")!).Get("param_groups")!).Items[0];
            Assert.That(new[] { "lr", "eps", "weight_decay" }.Select(k => Number(group.Get(k))), Is.EqualTo(new[] { 2e-4, 1e-7, 0.05 }));
            Assert.That(((PyList)group.Get("betas")!).Items.Select(Number), Is.EqualTo(new[] { 0.85, 0.97 }));
        }
    }

    private static double Number(PyValue? v) => v switch
    {
        PyFloat f => f.Value,
        PyInt i => i.AsLong,
        _ => throw new AssertionException($"not a number: {v}"),
    };

    [Test]
    public void Optimizer_options_are_refused_for_a_target_that_has_no_optimizer_and_bad_betas_are_usage_errors()
    {
        ConvertRequest Parse(string to, params string[] more) => Ckptmpi.Cli.Commands.ConvertCommand.Parse(
            ["--from", "hf", "--to", to, "--input", "in", "--output", "out", "--zero-stage", "2", "--dp-size", "2", .. more]);
        int UsageExit(string to, params string[] more) => Ckptmpi.Cli.ExitCodes.For(Assert.Catch(() => Parse(to, more))!);
        Assert.That(UsageExit("hf", "--lr", "1e-4"), Is.EqualTo(Ckptmpi.Cli.ExitCodes.Usage));
        Assert.That(UsageExit("zero", "--betas", "0.9"), Is.EqualTo(Ckptmpi.Cli.ExitCodes.Usage));
        Assert.That(UsageExit("zero", "--betas", "0.9,1.5"), Is.EqualTo(Ckptmpi.Cli.ExitCodes.Usage));
        Assert.That(Parse("hf").FormatOptions.OfType<ZeroOptions>().Single().Optimizer.IsEmpty, Is.True);
        Assert.That(Parse("zero", "--betas", "0.8,0.9").FormatOptions.OfType<ZeroOptions>().Single().Optimizer, Is.EqualTo(new OptimizerOverrides { Beta1 = 0.8, Beta2 = 0.9 }));
    }

    [Test]
    public void Zero_to_hf_writes_the_config_json_given_with_config_and_refuses_a_missing_one()
    {
        string fixture = Path.Combine(TestPaths.Fixtures, "deepspeed", "z2_w2_bf16");
        string config = Path.Combine(TestPaths.Fixtures, "deepspeed", "config.json");
        Assert.That(File.Exists(Path.Combine(fixture, "config.json")), Is.False, "the fixture has no config.json beside 'latest'");
        string hf = Path.Combine(_dir, "hf");
        var request = new ConvertRequest { From = "zero", To = "hf", Input = fixture, Output = hf, DType = DType.BF16, MaxBuffer = 64 << 10, FormatOptions = [new ZeroOptions { Config = config }] };
        ThreadCommunicator.Run(2, comm => ConversionJob.Run(comm, request), TimeSpan.FromSeconds(60));
        Assert.That(File.ReadAllBytes(Path.Combine(hf, "config.json")), Is.EqualTo(File.ReadAllBytes(config)));

        var missing = request with { Output = Path.Combine(_dir, "hf2"), FormatOptions = [new ZeroOptions { Config = Path.Combine(_dir, "nope.json") }] };
        var e = Assert.Throws<RankFailedException>(() => ThreadCommunicator.Run(2, comm => ConversionJob.Run(comm, missing), TimeSpan.FromSeconds(60)));
        Assert.That(e!.Message, Does.Contain("nope.json"));
        Assert.That(e.ExitCode, Is.EqualTo(5));
    }
}
