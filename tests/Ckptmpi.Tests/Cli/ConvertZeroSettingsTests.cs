namespace Ckptmpi.Tests.Cli;

/// <summary>
/// <c>convert --to zero</c> as a user runs it: the training job's settings come from its ds_config or are all given on the
/// command line; anything else is a usage error (exit 2) before any file is written, and rank 0 prints what it bakes in.
/// </summary>
public sealed class ConvertZeroSettingsTests
{
    private static string Hf => Path.Combine(TestPaths.Fixtures, "hf", "tiny-pad-bf16");

    private static readonly string[] Settings =
        ["--optimizer", "adamw", "--lr", "3e-4", "--betas", "0.9,0.95", "--eps", "1e-8", "--weight-decay", "0.1", "--gradient-clipping", "1.0"];

    private static ProcessResult Convert(string output, params string[] extra) =>
        TestPaths.RunCkptmpi(["convert", "--from", "hf", "--to", "zero", "--input", Hf, "--output", output, "--dp-size", "2", .. extra],
            new Dictionary<string, string?> { ["CKPTMPI_MPI"] = "off" }, timeoutSeconds: 120);

    [Test]
    public void Without_ds_config_every_setting_must_be_given_and_fp16_needs_the_loss_scale_too()
    {
        string dir = TestPaths.NewTempDir();
        try
        {
            ProcessResult none = Convert(Path.Combine(dir, "a"), "--zero-stage", "2");
            Assert.That(none.ExitCode, Is.EqualTo(2), none.ToString());
            Assert.That(none.Stderr, Does.Contain("--ds-config").And.Contain("--lr").And.Contain("--gradient-clipping"), none.ToString());

            ProcessResult fp16 = Convert(Path.Combine(dir, "b"), ["--zero-stage", "2", "--dtype", "fp16", .. Settings]);
            Assert.That(fp16.ExitCode, Is.EqualTo(2), fp16.ToString());
            Assert.That(fp16.Stderr, Does.Contain("--loss-scale").And.Contain("--initial-scale-power").And.Contain("--min-loss-scale"), fp16.ToString());
            Assert.That(Directory.Exists(Path.Combine(dir, "a")) || Directory.Exists(Path.Combine(dir, "b")), Is.False, "nothing written");

            ProcessResult all = Convert(Path.Combine(dir, "c"), ["--zero-stage", "2", "--dtype", "fp16", .. Settings,
                "--loss-scale", "0", "--initial-scale-power", "12", "--loss-scale-window", "500", "--hysteresis", "3", "--min-loss-scale", "0.5"]);
            Assert.That(all.ExitCode, Is.Zero, all.ToString());
            Assert.That(all.Stderr + all.Stdout, Does.Contain("AdamW lr 0.0003 betas [0.9, 0.95] eps 1E-08 weight_decay 0.1, gradient_clipping 1")
                .And.Contain("initial_scale_power 12, loss_scale_window 500, hysteresis 3, min_loss_scale 0.5"), all.ToString());
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [TestCase("\"lr\": 1e-3", "\"lr\": 1e400", "optimizer.params.lr")]
    [TestCase("\"betas\": [0.9, 0.95]", "\"betas\": [0.9, 5]", "optimizer.params.betas")]
    [TestCase("\"eps\": 1e-8", "\"eps\": -1", "optimizer.params.eps")]
    [TestCase("\"stage\": 2", "\"stage\": 3", "zero_optimization.stage")]
    [TestCase("\"bf16\": {\"enabled\": true}", "\"bf16\": {\"enabled\": true}, \"fp16\": {\"enabled\": true}", "fp16.enabled")]
    public void An_invalid_ds_config_is_a_usage_error_naming_the_key(string from, string to, string key)
    {
        string dir = TestPaths.NewTempDir();
        try
        {
            string good = """{"optimizer": {"type": "AdamW", "params": {"lr": 1e-3, "betas": [0.9, 0.95], "eps": 1e-8}}, "bf16": {"enabled": true}, "zero_optimization": {"stage": 2}}""";
            string bad = good.Replace(from, to);
            Assert.That(bad, Is.Not.EqualTo(good));
            string path = Path.Combine(dir, "ds_config.json");
            File.WriteAllText(path, bad);
            ProcessResult r = Convert(Path.Combine(dir, "out"), "--zero-stage", "2", "--ds-config", path);
            Assert.That(r.ExitCode, Is.EqualTo(2), r.ToString());
            Assert.That(r.Stderr, Does.Contain(key), r.ToString());
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Test]
    public void A_ds_config_nested_100000_deep_is_a_usage_error()
    {
        string dir = TestPaths.NewTempDir();
        try
        {
            string path = Path.Combine(dir, "deep.json");
            File.WriteAllText(path, "{\"a\": " + new string('[', 100_000) + new string(']', 100_000) + "}");
            ProcessResult r = Convert(Path.Combine(dir, "out"), "--zero-stage", "2", "--ds-config", path);
            Assert.That(r.ExitCode, Is.EqualTo(2), r.ToString());
            Assert.That(r.Stderr, Does.Contain("deeper than 64"), r.ToString());
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
