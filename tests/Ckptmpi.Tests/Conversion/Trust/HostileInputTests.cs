using System.Diagnostics;
using System.Text.Json;
using Ckptmpi.Conversion.Manifests;

using Ckptmpi.Formats.DeepSpeed;

namespace Ckptmpi.Tests.Conversion.Trust;

/// <summary>
/// Inputs that are not what they seem, and absurd sizes, through the real program: each is refused quickly with a
/// clear message and the documented exit code (2 usage, 3 bad input), never a hang, a crash (70) or a memory blow-up.
/// </summary>
public sealed class HostileInputTests : TrustFixture
{
    private static void MakeFifo(string path)
    {
        using Process p = Process.Start("mkfifo", [path])!;
        p.WaitForExit();
        Assert.That(p.ExitCode, Is.EqualTo(0));
    }

    private static void AssertRefused(ProcessResult r, int code, params string[] mentions)
    {
        Assert.That(r.ExitCode, Is.EqualTo(code), r.ToString());
        foreach (string m in mentions) Assert.That(r.Stderr + r.Stdout, Does.Contain(m), r.ToString());
    }

    [Test]
    public void A_FIFO_where_a_shard_or_config_is_expected_is_refused_at_once_by_convert_estimate_and_inspect()
    {
        string shard = Directory.GetFiles(Model, "model-00002-*.safetensors").Single();
        File.Delete(shard);
        MakeFifo(shard);
        string output = Path.Combine(Dir, "out");
        AssertRefused(RunProgram("convert", "--from", "hf", "--to", "hf", "--input", Model, "--output", output), 3, Path.GetFileName(shard), "FIFO");
        AssertRefused(RunProgram("inspect", shard), 3, "FIFO");
        Assert.That(Directory.Exists(output) ? FilesUnder(output) : [], Has.None.EqualTo(Manifest.FileName));

        string config = Path.Combine(Dir, "config.json");
        MakeFifo(config);
        AssertRefused(RunProgram("estimate", "--model", config), 3, "FIFO");
        AssertRefused(RunProgram(["convert", "--from", "hf", "--to", "zero", "--zero-stage", "3", "--dp-size", "8", "--input", config, "--dry-run", .. TrainingSettingsForTests.Args]), 3, "FIFO");
    }

    private string ZeroCheckpoint()
    {
        string zero = Path.Combine(Dir, "zero");
        Assert.That(RunInProcess(HfToHf(zero) with { To = "zero", FormatOptions = [TrainingSettingsForTests.Zero(2, 2)], DType = null }), Is.Null);
        return zero;
    }

    [TestCase("../elsewhere/global_step0")]
    [TestCase("/tmp")]
    [TestCase("..")]
    public void Latest_may_name_only_a_folder_inside_the_checkpoint(string latest)
    {
        string zero = ZeroCheckpoint();
        Directory.CreateDirectory(Path.Combine(Dir, "elsewhere"));
        Directory.Move(Path.Combine(zero, "global_step0"), Path.Combine(Dir, "elsewhere", "global_step0"));
        File.WriteAllText(Path.Combine(zero, "latest"), latest);
        AssertRefused(RunProgram("convert", "--from", "zero", "--to", "hf", "--input", zero, "--output", Path.Combine(Dir, "back")), 3, "latest", "not a tag folder name");
        // The same name given as --tag is a command-line value: a usage error.
        AssertRefused(RunProgram("convert", "--from", "zero", "--to", "hf", "--input", zero, "--tag", latest, "--output", Path.Combine(Dir, "back")), 2, "--tag");
        AssertRefused(RunProgram("inspect", zero), 3, "not a tag folder name");
    }

    [Test]
    public void A_huge_latest_is_refused_without_being_echoed()
    {
        string zero = ZeroCheckpoint();
        File.WriteAllText(Path.Combine(zero, "latest"), new string('A', 5_000_000));
        ProcessResult r = RunProgram("convert", "--from", "zero", "--to", "hf", "--input", zero, "--output", Path.Combine(Dir, "back"));
        AssertRefused(r, 3, "latest");
        Assert.That(r.Stderr.Length + r.Stdout.Length, Is.LessThan(4000), "the file's content is not echoed");
    }

    [Test]
    public void A_tag_folder_that_links_out_of_the_checkpoint_is_refused()
    {
        string zero = ZeroCheckpoint();
        string elsewhere = Path.Combine(Dir, "elsewhere");
        Directory.Move(Path.Combine(zero, "global_step0"), elsewhere);
        Directory.CreateSymbolicLink(Path.Combine(zero, "global_step0"), elsewhere);
        AssertRefused(RunProgram("convert", "--from", "zero", "--to", "hf", "--input", zero, "--output", Path.Combine(Dir, "back")), 3, "link");
    }

    [Test]
    public void A_config_json_that_links_out_of_the_input_directory_is_refused_like_a_shard()
    {
        string secret = Path.Combine(Dir, "secret.json");
        File.Move(Path.Combine(Model, "config.json"), secret);
        File.CreateSymbolicLink(Path.Combine(Model, "config.json"), secret);
        string output = Path.Combine(Dir, "out");
        AssertRefused(RunProgram("convert", "--from", "hf", "--to", "hf", "--input", Model, "--output", output), 3, "outside the checkpoint directory");
        Assert.That(File.Exists(Path.Combine(output, "config.json")), Is.False);
    }

    [Test]
    public void Verify_refuses_a_manifest_that_lists_a_file_twice_before_reading_anything()
    {
        string output = Path.Combine(Dir, "out");
        Assert.That(RunInProcess(HfToHf(output)), Is.Null);
        Manifest m = Manifest.Read(output);
        var entries = Enumerable.Repeat(m.Outputs[0], 200_000).ToList();
        File.WriteAllText(Path.Combine(output, Manifest.FileName), JsonSerializer.Serialize(m with { Outputs = entries }, Manifest.Json));
        var clock = Stopwatch.StartNew();
        AssertRefused(RunProgram("verify", output), 3, "more than once");
        Assert.That(clock.Elapsed.TotalSeconds, Is.LessThan(30));
    }

    [TestCase("--max-buffer", "9999999999999999999999")]
    [TestCase("--max-shard-size", "99999999999999999999")]
    [TestCase("--max-buffer", "1e400")]
    public void Absurd_sizes_on_the_command_line_are_usage_errors(string option, string value)
    {
        ProcessResult r = RunProgram("convert", "--from", "hf", "--to", "hf", "--input", Model, "--output", Path.Combine(Dir, "out"), option, value);
        AssertRefused(r, 2, option);
    }

    [TestCase("num_hidden_layers", "1000000000")]
    [TestCase("num_hidden_layers", "1e12")]
    [TestCase("num_hidden_layers", "1000000000000")]
    [TestCase("vocab_size", "9223372036854775807")]
    [TestCase("hidden_size", "4294967296")]
    [TestCase("intermediate_size", "99999999999999999999")]
    public void Absurd_config_values_are_bad_input_in_estimate_and_dry_run(string key, string value)
    {
        string config = Path.Combine(Dir, "absurd.json");
        string text = File.ReadAllText(Path.Combine(Model, "config.json"));
        using (JsonDocument doc = JsonDocument.Parse(text))
        {
            var fields = doc.RootElement.EnumerateObject().Select(p => p.Name == key ? $"\"{key}\": {value}" : $"\"{p.Name}\": {p.Value.GetRawText()}");
            File.WriteAllText(config, "{" + string.Join(",", fields) + "}");
        }
        AssertRefused(RunProgram("estimate", "--model", config), 3, key);
        AssertRefused(RunProgram(["convert", "--from", "hf", "--to", "zero", "--zero-stage", "3", "--dp-size", "8", "--input", config, "--dry-run", .. TrainingSettingsForTests.Args]), 3, key);
    }

    [Test]
    public void A_dp_size_that_would_plan_billions_of_files_is_refused_before_planning()
    {
        var clock = Stopwatch.StartNew();
        ProcessResult r = RunProgram(["convert", "--from", "hf", "--to", "zero", "--zero-stage", "3", "--dp-size", "2147483647",
                                  "--input", Path.Combine(Model, "config.json"), "--dry-run", .. TrainingSettingsForTests.Args]);
        AssertRefused(r, 2, "--dp-size");
        Assert.That(clock.Elapsed.TotalSeconds, Is.LessThan(30));
    }
}

/// <summary>A legal but absurd training layout gets a warning, not silence.</summary>
public sealed class AlmostEmptyLayoutTests : TrustFixture
{
    [Test]
    public void A_dp_size_far_wider_than_the_model_warns_about_almost_empty_files()
    {
        ProcessResult r = RunProgram(["convert", "--from", "hf", "--to", "zero", "--zero-stage", "3", "--dp-size", "5000",
                                     "--input", Path.Combine(Model, "config.json"), "--dry-run", .. TrainingSettingsForTests.Args]);
        Assert.That(r.ExitCode, Is.EqualTo(0), r.ToString());
        Assert.That(r.Stderr, Does.Contain("almost empty").And.Contain("--dp-size"));
    }
}
