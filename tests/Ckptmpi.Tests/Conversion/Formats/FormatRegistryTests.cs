using System.Text.RegularExpressions;
using Ckptmpi.Cli;
using Ckptmpi.Cli.Commands;
using Ckptmpi.Conversion;
using Ckptmpi.Errors;
using Ckptmpi.Formats;
using Ckptmpi.Formats.DeepSpeed;
using Ckptmpi.Parallel;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Tests.Conversion.Formats;

public sealed class FormatRegistryTests
{
    private static string Zero3 => Path.Combine(TestPaths.Fixtures, "deepspeed", "z3_w4_bf16");
    private static string Zero2 => Path.Combine(TestPaths.Fixtures, "deepspeed", "z2_w2_bf16");

    /// <summary>The config.json of the fixtures' model: the ZeRO fixtures keep it beside their folders, not beside 'latest'.</summary>
    private static string FixtureConfig => Path.Combine(TestPaths.Fixtures, "deepspeed", "config.json");
    private static string Hf => Path.Combine(TestPaths.Fixtures, "hf", "tiny-pad-bf16");

    [Test]
    public void Each_checkpoint_is_recognised_by_exactly_its_own_reader_and_described()
    {
        Assert.That(FormatRegistry.Probe(Zero3).Select(p => (p.Format.Name, p.What)),
            Is.EqualTo(new[] { ("zero", "a DeepSpeed ZeRO-3 checkpoint (dp 4, tag global_step1)") }));
        Assert.That(FormatRegistry.Probe(Zero2).Select(p => (p.Format.Name, p.What)),
            Is.EqualTo(new[] { ("zero", "a DeepSpeed ZeRO-1/2 checkpoint (dp 2, tag global_step1)") }));
        Assert.That(FormatRegistry.Probe(Hf).Select(p => (p.Format.Name, p.What)),
            Is.EqualTo(new[] { ("hf", "a HuggingFace safetensors checkpoint (1 file)") }));
        Assert.That(FormatRegistry.Detect(Path.Combine(Hf, "config.json")).Format.Name, Is.EqualTo("hf"));
        Assert.That(FormatRegistry.Detect(Path.Combine(TestPaths.Fixtures, "configs", "llama-3.1-405b.json")).What,
            Is.EqualTo("a model config llama-3.1-405b.json (shapes only, for --dry-run)"));
    }

    [Test]
    public void Unknown_ambiguous_and_missing_inputs_are_clear_errors_listing_the_known_formats()
    {
        string dir = TestPaths.NewTempDir();
        try
        {
            var unknown = Assert.Throws<UnsupportedCheckpointException>(() => FormatRegistry.Detect(dir))!;
            Assert.That(unknown.Message, Does.Contain("pass --from"));
            foreach (ICheckpointFormat f in FormatRegistry.Readers) Assert.That(unknown.Message, Does.Contain($"{f.Name}: {f.Reader!.Description}"));

            File.Copy(Path.Combine(Hf, "model.safetensors"), Path.Combine(dir, "model.safetensors"));
            Directory.CreateDirectory(Path.Combine(dir, "global_step0"));
            File.WriteAllText(Path.Combine(dir, "latest"), "global_step0");
            var ambiguous = Assert.Throws<UnsupportedCheckpointException>(() => FormatRegistry.Detect(dir))!;
            Assert.That(ambiguous.Message, Does.Contain("ambiguous").And.Contain("--from hf").And.Contain("--from zero"));

            Assert.Throws<FileNotFoundException>(() => FormatRegistry.Detect(Path.Combine(dir, "nothing-here")));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Test]
    public void Option_names_are_unique_across_formats_and_convert_help_lists_each_with_its_description()
    {
        var names = FormatRegistry.All.SelectMany(f => f.Options).Select(o => o.Name).ToList();
        Assert.That(names, Is.Unique);
        ProcessResult help = TestPaths.RunCkptmpi(["convert", "--help"], timeoutSeconds: 60);
        Assert.That(help.ExitCode, Is.EqualTo(0), help.ToString());
        string text = Regex.Replace(help.Stdout, @"\s+", " ");
        foreach (System.CommandLine.Option o in FormatRegistry.All.SelectMany(f => f.Options))
            Assert.That(text, Does.Contain(o.Name).And.Contain(Regex.Replace(o.Description!, @"\s+", " ")), o.Name);
        Assert.That(text, Does.Contain("--from").And.Contain("--max-buffer").And.Contain("--dry-run"));
    }

    [Test]
    public void Without_from_rank_0_logs_what_the_input_looks_like_and_reads_it_with_that_reader()
    {
        ProcessResult r = TestPaths.RunCkptmpi(["convert", "--to", "hf", "--input", Zero3, "--config", FixtureConfig, "--dry-run"], timeoutSeconds: 120);
        Assert.That(r.ExitCode, Is.EqualTo(0), r.ToString());
        Assert.That(r.Stderr, Does.Contain("input looks like a DeepSpeed ZeRO-3 checkpoint (dp 4, tag global_step1); reading it as --from zero"));
    }

    [Test]
    public void A_target_that_drops_the_optimizer_state_says_so_before_starting_and_a_ZeRO_target_carries_it()
    {
        ProcessResult hf = TestPaths.RunCkptmpi(["convert", "--from", "zero", "--to", "hf", "--input", Zero2, "--config", FixtureConfig, "--dry-run"], timeoutSeconds: 120);
        Assert.That(hf.ExitCode, Is.EqualTo(0), hf.ToString());
        Assert.That(hf.Stderr, Does.Contain("not carried: the Adam moments (exp_avg, exp_avg_sq) and step of a ZeRO-2 run (dp 2, tag global_step1); the hf output holds the weights only"));

        ProcessResult zero = TestPaths.RunCkptmpi(["convert", "--from", "zero", "--to", "zero", "--input", Zero2, "--zero-stage", "3", "--dp-size", "4", "--config", FixtureConfig, "--dry-run",
            "--ds-config", Path.Combine(Path.GetDirectoryName(Zero2)!, "z3_w4_bf16", "ds_config.json")], timeoutSeconds: 120);
        Assert.That(zero.ExitCode, Is.EqualTo(0), zero.ToString());
        Assert.That(zero.Stderr, Does.Not.Contain("not carried"));
        Assert.That(zero.Stdout + zero.Stderr, Does.Contain("global_step1"));
    }

    [Test]
    public void A_writer_refusing_its_options_or_its_ds_config_gives_a_typed_error()
    {
        CollectivePhase.ExitCodeOf = ExitCodes.For; // as the CLI installs it
        Assert.That(ExitCodes.For(Assert.Catch(() => ConvertCommand.Parse("--from", "hf", "--to", "zero", "--input", Hf, "--output", "o", "--zero-stage", "3"))!), Is.EqualTo(ExitCodes.Usage));
        string dir = TestPaths.NewTempDir();
        try
        {
            string ds = Path.Combine(dir, "ds_config.json");
            File.WriteAllText(ds, """{"zero_optimization": {"stage": 2}, "bf16": {"enabled": true}, "optimizer": {"type": "SGD", "params": {"lr": 0.1}}}""");
            var request = new ConvertRequest
            {
                From = "hf", To = "zero", Input = Hf, Output = Path.Combine(dir, "out"), DryRun = true, FormatOptions = [new ZeroOptions { DpSize = 2, DsConfig = ds }],
            };
            var e = Assert.Throws<RankFailedException>(() => ThreadCommunicator.Run(2, comm => ConversionJob.Run(comm, request), TimeSpan.FromSeconds(60)))!;
            // The training job's config is checked like the command line: what the writer refuses in it is a usage error.
            Assert.That(e.ExitCode, Is.EqualTo(ExitCodes.Usage));
            Assert.That(e.Message, Does.Contain(ds).And.Contain("SGD"));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Test]
    public void The_source_facts_travel_typed_in_the_one_broadcast_message()
    {
        var catalog = new SourceCatalog("/r", [new SourceTensor("w", DType.F32, [2], [new SourcePiece(0, 2, "f", 8, DType.F32)])]);
        var facts = new SourceFacts
        {
            Format = "zero", ModelConfigJson = "{\"a\": 1}", PreferredDType = DType.F32,
            Training = new TrainingState
            {
                Description = "moments", Tag = "global_step7", Step = "7", StateTensors = ["w.exp_avg"],
                Counters = new Dictionary<string, long> { ["global_steps"] = 7, ["global_samples"] = 56 },
            },
        };
        JobInputs back = JobInputs.Deserialize(new JobInputs(catalog, facts, new Dictionary<string, string> { ["ds.json"] = "{}" }).Serialize());
        Assert.That(back.Source with { Training = null }, Is.EqualTo(facts with { Training = null }));
        Assert.That(back.Source.Training!.StateTensors, Is.EqualTo(new[] { "w.exp_avg" }));
        Assert.That(back.Source.Training.Counters, Is.EquivalentTo(facts.Training.Counters));
        var none = new Dictionary<string, long>();
        Assert.That(back.Source.Training with { StateTensors = [], Counters = none }, Is.EqualTo(facts.Training with { StateTensors = [], Counters = none }));
        Assert.That(back.WriterFiles["ds.json"], Is.EqualTo("{}"));
    }
}
