using System.Text.Json;
using Ckptmpi.Conversion;
using Ckptmpi.Formats.DeepSpeed;
using Ckptmpi.Parallel;
using Ckptmpi.Tests.Conversion;
using Ckptmpi.Tests.Model;

namespace Ckptmpi.Tests.Formats.DeepSpeed;

/// <summary>
/// DeepSpeed 0.14.4's real engine (shared/peers) loads our HF -> ZeRO output of every family, stage 2 and 3 on 2 ranks:
/// every parameter in place (module weights, fp32 masters), the ds_config's param_groups, clip_grad and loss scaler kept
/// after <c>load_checkpoint</c>, one training step, and DeepSpeed's own zero_to_fp32 rebuilds the input. The module is
/// built by tests/peer/check_family.py from the names and shapes written in <see cref="FamilyCase"/>, not from our code.
/// </summary>
[NonParallelizable]
public sealed class FamilyPeerTests
{
    private static string Peer => Ckptmpi.Tests.Peers.DeepSpeedPeer.Root;

    private static string Script => Path.Combine(TestPaths.RepoRoot, "tests", "peer", "check_family.py");

    private static IEnumerable<TestCaseData> Cases() =>
        FamilyCase.All.SelectMany(c => new[] { 2, 3 }.Select(s => new TestCaseData(c, s, "bf16").SetArgDisplayNames(c.Name, $"stage {s}", "bf16")))
            .Append(new TestCaseData(FamilyCase.All.Single(c => c.Name == "phi3"), 2, "fp16").SetArgDisplayNames("phi3", "stage 2", "fp16"));

    private static void RequirePeer()
    {
        if (!Directory.Exists(Peer)) Assert.Ignore($"the DeepSpeed peer is not at {Peer}");
        if (!File.Exists(TestPaths.Python)) Assert.Ignore($"{TestPaths.Python} is missing");
        var probe = TestPaths.RunProcess(TestPaths.Python, ["-c", "import torch, pydantic, psutil, cpuinfo, tqdm, packaging, numpy, msgpack"], timeoutSeconds: 120);
        if (probe.ExitCode != 0) Assert.Ignore($"the peer needs python3-torch python3-pydantic python3-psutil python3-cpuinfo python3-tqdm python3-packaging python3-numpy python3-msgpack: {probe.Stderr.Trim()}");
    }

    /// <summary>The training job's ds_config: torch AdamW (no compiled ops on CPU), values unlike any default.</summary>
    private static string DsConfig(int stage, string dtype) => JsonSerializer.Serialize(new Dictionary<string, object>
    {
        ["train_micro_batch_size_per_gpu"] = 2,
        ["gradient_accumulation_steps"] = 1,
        ["steps_per_print"] = 1000000,
        ["optimizer"] = new { type = "AdamW", @params = new { lr = 0.1, betas = new[] { 0.9, 0.95 }, eps = 1e-7, weight_decay = 0.02, torch_adam = true } },
        ["gradient_clipping"] = 0.75,
        ["zero_optimization"] = new { stage },
        ["bf16"] = new { enabled = dtype == "bf16" },
        ["fp16"] = dtype == "fp16"
            ? new { enabled = true, loss_scale = 0, initial_scale_power = 12, loss_scale_window = 500, hysteresis = 3, min_loss_scale = 0.5 }
            : (object)new { enabled = false },
    });

    [TestCaseSource(nameof(Cases))]
    public void DeepSpeed_loads_trains_and_rebuilds_our_checkpoint_with_the_ds_config_settings_kept(FamilyCase c, int stage, string dtype)
    {
        ProcessResult r = ConvertAndCheck(c, stage, dtype, new OptimizerOverrides());
        Assert.That(r.ExitCode, Is.Zero, r.ToString());
        Assert.That(r.Stdout, Does.Contain("check_load: PASS").And.Contain("check_fp32: PASS").And.Contain("engine keeps ds_config settings"), r.ToString());
    }

    /// <summary>
    /// The check has teeth: DeepSpeed restores clip_grad and param_groups from the checkpoint over its config, so a
    /// checkpoint baked with other values (here by overriding the ds_config on our command line) changes the training run.
    /// </summary>
    [Test]
    public void A_checkpoint_baked_with_other_settings_than_the_training_config_is_caught_after_load()
    {
        ProcessResult r = ConvertAndCheck(FamilyCase.All.Single(c => c.Name == "phi3"), 2, "bf16", new OptimizerOverrides { GradientClipping = 0.0, Lr = 0.05 });
        Assert.That(r.ExitCode, Is.Not.Zero, r.ToString());
        Assert.That(r.Stdout + r.Stderr, Does.Contain("clip_grad 0.0 != ds_config gradient_clipping 0.75").And.Contain("param_groups lr 0.05 != ds_config 0.1"), r.ToString());
    }

    private static ProcessResult ConvertAndCheck(FamilyCase c, int stage, string dtype, OptimizerOverrides overrides)
    {
        RequirePeer();
        string dir = TestPaths.NewTempDir();
        try
        {
            string hf = FamilyZeroTests.WriteModel(Path.Combine(dir, "hf"), c);
            string ds = Path.Combine(dir, "ds_config.json"), spec = Path.Combine(dir, "spec.json"), zero = Path.Combine(dir, "zero");
            File.WriteAllText(ds, DsConfig(stage, dtype));
            File.WriteAllText(spec, JsonSerializer.Serialize(new
            {
                @params = c.Expected.Select(p => new object[] { p.Name, p.Shape }),
                tied = c.Tied is var (head, embed) ? new[] { head, embed } : null,
            }));
            var request = new ConvertRequest { From = "hf", To = "zero", Input = hf, Output = zero, MaxBuffer = 64 << 10, FormatOptions = [new ZeroOptions { DpSize = 2, DsConfig = ds, Optimizer = overrides }] };
            ThreadCommunicator.Run(2, comm => ConversionJob.Run(comm, request), TimeSpan.FromSeconds(60));

            ProcessResult r = TestPaths.RunProcess(TestPaths.Python,
                [Script, zero, "--spec", spec, "--hf", hf, "--stage", stage.ToString(), "--world", "2", "--dtype", dtype, "--ds-config", ds],
                new Dictionary<string, string?> { ["PEER_HARNESS"] = Path.Combine(Peer, "harness"), ["PEER_WORK"] = dir, ["DS_SRC"] = null }, timeoutSeconds: 600);
            TestContext.Out.WriteLine(r.Stdout);
            return r;
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
