using Ckptmpi.Conversion;
using Ckptmpi.Conversion.Verify;
using Ckptmpi.Errors;
using Ckptmpi.Formats;
using Ckptmpi.Formats.MegaDs;
using Ckptmpi.Formats.Safetensors;
using Ckptmpi.Formats.Universal;
using Ckptmpi.Parallel;
using Ckptmpi.Tensors.Layout;
using Ckptmpi.Tests.Formats.MegaDs;

namespace Ckptmpi.Tests.Formats.Universal;

/// <summary>
/// DeepSpeed's universal checkpoint against the real <c>ds_to_universal</c> output of the repository's trained
/// Megatron-DeepSpeed fixture (tp 2, pp 2, dp 2, step 1): ours must be the same files, pickles and tensors; reading
/// the real one must give the live engine's references; and the round trip through it must lose nothing.
/// </summary>
public sealed class UniversalTests
{
    private string _dir = null!;

    [SetUp]
    public void SetUp() => _dir = TestPaths.NewTempDir();

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    private static string Fixture => FixtureOf(Tp2Pp2Dp2);

    private const string Tp2Pp2Dp2 = "tp2_pp2_dp2", Tp1Pp1Dp1 = "tp1_pp1_dp1";

    private static string FixtureOf(string topology) => Path.Combine(MegaDsFixtures.Repo, topology);

    private static string Step1 => Path.Combine(Fixture, "step1");

    /// <summary>ds_to_universal's output of <see cref="Step1"/>: the save root with <c>latest_universal</c>.</summary>
    private static string RealUniversal => Path.Combine(Fixture, "step1_universal");

    private static string CompareScript => Path.Combine(TestPaths.RepoRoot, "tests", "Ckptmpi.Tests", "Formats", "Universal", "universal_compare.py");

    private static string Convert(string from, string to, string input, string output, int ranks, FormatOptions options)
    {
        var request = new ConvertRequest
        {
            From = from, To = to, Input = input, Output = output, MaxBuffer = 64 << 10, FormatOptions = [options], NoReport = true,
        };
        ThreadCommunicator.Run(ranks, comm => ConversionJob.Run(comm, request), TimeSpan.FromSeconds(120));
        return output;
    }

    private string ToUniversal(int ranks, string name = "universal", string topology = Tp2Pp2Dp2) =>
        Convert(MegaDsFormat.FormatName, UniversalFormat.FormatName, Path.Combine(FixtureOf(topology), "step1"), Path.Combine(_dir, name), ranks,
            new MegaDsOptions { WithOptimizerStates = true });

    // tp 2 x pp 2: 15 parameters x 4 state files, optimizer_state.pt and 4 model-state copies. tp 1 x pp 1: one
    // model-state file, and no TP patterns in universal_checkpoint_info, so every marker is cat_dim 0.
    [TestCase(Tp2Pp2Dp2, 65)]
    [TestCase(Tp1Pp1Dp1, 62)]
    public void Megads_to_universal_equals_ds_to_universal_file_for_file_pickle_for_pickle(string topology, int files)
    {
        MegaDsFixtures.RequireTorch();
        string output = ToUniversal(2, topology: topology);
        Assert.That(File.ReadAllText(Path.Combine(output, UniversalPaths.LatestUniversal)), Is.EqualTo("global_step1_universal"));
        string verdict = TestPaths.RunPython(File.ReadAllText(CompareScript), Path.Combine(output, "global_step1_universal"),
            Path.Combine(FixtureOf(topology), "step1_universal", "global_step1_universal")).Trim();
        Assert.That(verdict, Is.EqualTo($"OK {files} files"));
    }

    [Test]
    public void Verify_against_the_megads_source_compares_every_value()
    {
        string output = ToUniversal(2);
        var r = TestPaths.RunCkptmpi(["verify", output, "--against", Step1]);
        Assert.That(r.ExitCode, Is.EqualTo(0), r.Stderr);
        Assert.That(r.Stdout + r.Stderr, Does.Contain("21 tensors").And.Contain("all equal"));
    }

    [Test]
    public void DeepSpeeds_own_ds_to_universal_run_now_gives_what_we_write()
    {
        Peers.DeepSpeedPeer.RequirePresent();
        MegaDsFixtures.RequireTorch();
        string save = Path.Combine(_dir, "save"), work = Path.Combine(_dir, "work");
        MegaDsToHfTests.CopyDir(Step1, save);
        Directory.CreateDirectory(work);
        var r = TestPaths.RunProcess(TestPaths.Python, [Path.Combine(TestPaths.RepoRoot, "tests", "peer", "ds_to_universal.py"), Peers.DeepSpeedPeer.Root, work,
            Path.Combine(save, "global_step1"), Path.Combine(save, "global_step1_universal")], timeoutSeconds: 600);
        Assert.That(r.ExitCode, Is.EqualTo(0), r.Stderr);
        string ours = ToUniversal(2);
        string verdict = TestPaths.RunPython(File.ReadAllText(CompareScript), Path.Combine(ours, "global_step1_universal"), Path.Combine(save, "global_step1_universal")).Trim();
        Assert.That(verdict, Is.EqualTo("OK 65 files"));
        Assert.That(File.ReadAllText(Path.Combine(save, UniversalPaths.LatestUniversal)), Is.EqualTo(File.ReadAllText(Path.Combine(ours, UniversalPaths.LatestUniversal))));
    }

    /// <summary>
    /// dp 64 with a flat group of 64 norm elements: BF16_Optimizer pads it to 128, so the last data rank's recorded
    /// padding (64) exceeds its partition (2), as on large ALCF runs (dp 768). DeepSpeed's ds_to_universal crashes
    /// there (its narrow gets a negative length); ours converts it, and equals what ds_to_universal writes for the same
    /// values when no padding is recorded.
    /// </summary>
    [Test]
    public void Padding_that_exceeds_a_partition_converts_where_ds_to_universal_crashes()
    {
        Peers.DeepSpeedPeer.RequirePresent();
        MegaDsFixtures.RequireTorch();
        // Run from its place in the repository: it imports tests/peer/megatron_stub.py beside it.
        string make = Path.Combine(TestPaths.RepoRoot, "tests", "bench", "make_megads.py");
        void Make(params string[] args)
        {
            var r = TestPaths.RunProcess(TestPaths.Python, [make, .. args], timeoutSeconds: 300);
            Assert.That(r.ExitCode, Is.Zero, $"make_megads.py failed:\n{r.Stderr}\n{r.Stdout}");
        }
        string[] dims = ["--layers", "2", "--hidden", "32", "--ffn", "48", "--heads", "8", "--kv", "4", "--vocab", "250", "--dp", "64"];
        string real = Path.Combine(_dir, "real"), unpadded = Path.Combine(_dir, "unpadded"), work = Path.Combine(_dir, "work");
        Directory.CreateDirectory(work);
        Make([Step1, real, .. dims]);
        Make([Step1, unpadded, .. dims, "--group-paddings", "none"]);
        ProcessResult Ds(string save) => TestPaths.RunProcess(TestPaths.Python, [Path.Combine(TestPaths.RepoRoot, "tests", "peer", "ds_to_universal.py"),
            Peers.DeepSpeedPeer.Root, work, Path.Combine(save, "global_step1"), Path.Combine(save, "global_step1_universal")], timeoutSeconds: 600);
        var crash = Ds(real);
        Assert.That(crash.ExitCode, Is.Not.EqualTo(0), "DeepSpeed 0.14.4 cannot strip a padding larger than the partition");
        Assert.That(crash.Stderr, Does.Contain("length (-62)"));
        var ok = Ds(unpadded);
        Assert.That(ok.ExitCode, Is.EqualTo(0), ok.Stderr);
        string ours = Convert(MegaDsFormat.FormatName, UniversalFormat.FormatName, real, Path.Combine(_dir, "ours"), 2, new MegaDsOptions { WithOptimizerStates = true });
        string verdict = TestPaths.RunPython(File.ReadAllText(CompareScript), Path.Combine(ours, "global_step1_universal"), Path.Combine(unpadded, "global_step1_universal")).Trim();
        Assert.That(verdict, Is.EqualTo("OK 65 files"));
    }

    [TestCase(Tp2Pp2Dp2)]
    [TestCase(Tp1Pp1Dp1)]
    public void Universal_to_hf_of_the_real_output_equals_the_live_engine_references(string topology)
    {
        MegaDsFixtures.RequireTorch();
        string output = Convert(UniversalFormat.FormatName, "hf", Path.Combine(FixtureOf(topology), "step1_universal"), Path.Combine(_dir, "hf"), 2,
            new UniversalOptions { WithOptimizerStates = true });
        foreach (string kind in new[] { "fp32", "exp_avg", "exp_avg_sq" })
            Assert.That(MegaDsFixtures.CheckWithTorch(output, FixtureOf(topology), 1, "float32", MegaDsFixtures.Repo, kind), Does.StartWith("OK 21 tensors"), kind);
    }

    [Test]
    public void Megads_to_universal_to_hf_equals_megads_to_hf_bit_for_bit()
    {
        string direct = Convert(MegaDsFormat.FormatName, "hf", Step1, Path.Combine(_dir, "direct"), 2, new MegaDsOptions { WithOptimizerStates = true });
        string universal = ToUniversal(2);
        string back = Convert(UniversalFormat.FormatName, "hf", universal, Path.Combine(_dir, "back"), 2, new UniversalOptions { WithOptimizerStates = true });
        foreach (string sub in new[] { "", "optimizer_states" })
        {
            SourceCatalog expected = SafetensorsCheckpoint.Open(Path.Combine(direct, sub)), actual = SafetensorsCheckpoint.Open(Path.Combine(back, sub));
            Assert.That(actual.Tensors.Select(t => t.Name), Is.EquivalentTo(expected.Tensors.Select(t => t.Name)), sub);
            Assert.That(CatalogComparer.Compare(expected, actual), Is.Empty, sub);
        }
        Assert.That(SafetensorsCheckpoint.Open(Path.Combine(back, "optimizer_states")).Tensors.Count, Is.EqualTo(3 * 21), "exp_avg, exp_avg_sq and step of each HF tensor");
    }

    [Test]
    public void Output_is_identical_for_1_2_and_4_conversion_ranks()
    {
        Dictionary<string, byte[]>? first = null;
        foreach (int ranks in new[] { 1, 2, 4 })
        {
            string output = ToUniversal(ranks, $"r{ranks}");
            string tag = Path.Combine(output, "global_step1_universal");
            var files = Directory.GetFiles(tag, "*", SearchOption.AllDirectories).ToDictionary(f => Path.GetRelativePath(tag, f), File.ReadAllBytes);
            Assert.That(files, Has.Count.EqualTo(65));
            if (first is null) { first = files; continue; }
            Assert.That(files.Keys, Is.EquivalentTo(first.Keys));
            foreach (var (name, bytes) in files) Assert.That(bytes, Is.EqualTo(first[name]), $"{name} on {ranks} ranks");
        }
    }

    [Test]
    public void Without_the_optimizer_states_the_writer_says_what_to_pass()
    {
        var e = Assert.Catch<RankFailedException>(() =>
            Convert(MegaDsFormat.FormatName, UniversalFormat.FormatName, Step1, Path.Combine(_dir, "u"), 1, new MegaDsOptions()));
        Assert.That(e!.Message, Does.Contain("--with-optimizer-states"));
        Assert.That(Directory.Exists(Path.Combine(_dir, "u", "global_step1_universal")), Is.False);
    }

    [TestCase("exp_avg.pt", "")]
    [TestCase("exp_avg_sq.pt", "--with-optimizer-states")]
    [TestCase("fp32.pt", "")]
    public void A_missing_state_file_is_named_with_exit_code_3(string file, string flag)
    {
        string copy = Path.Combine(_dir, "copy");
        MegaDsToHfTests.CopyDir(RealUniversal, copy);
        string missing = Path.Combine(copy, "global_step1_universal", "zero", "3.mlp.dense_h_to_4h.weight", file);
        File.Delete(missing);
        string output = Path.Combine(_dir, "out");
        var r = TestPaths.RunCkptmpi(["convert", "--from", "universal", "--to", "hf", "--input", copy, "--output", output, "--no-report", .. flag == "" ? Array.Empty<string>() : [flag]]);
        Assert.That(r.ExitCode, Is.EqualTo(3), r.Stderr);
        Assert.That(r.Stderr, Does.Contain(Path.Combine("3.mlp.dense_h_to_4h.weight", file)).And.Contain("is missing"));
        Assert.That(File.Exists(Path.Combine(output, "ckptmpi-manifest.json")), Is.False, "nothing that looks complete");
    }

    [Test]
    public void A_state_file_of_another_parameter_is_refused_naming_it()
    {
        string copy = Path.Combine(_dir, "copy");
        MegaDsToHfTests.CopyDir(RealUniversal, copy);
        string zero = Path.Combine(copy, "global_step1_universal", "zero");
        File.Copy(Path.Combine(zero, "2.self_attention.dense.weight", "fp32.pt"), Path.Combine(zero, "2.mlp.dense_4h_to_h.weight", "fp32.pt"), overwrite: true);
        string output = Path.Combine(_dir, "out");
        var r = TestPaths.RunCkptmpi(["convert", "--from", "universal", "--to", "hf", "--input", copy, "--output", output, "--no-report"]);
        Assert.That(r.ExitCode, Is.EqualTo(3), r.Stderr);
        Assert.That(r.Stderr, Does.Contain(Path.Combine("2.mlp.dense_4h_to_h.weight", "fp32.pt")).And.Contain("[32, 48]"));
        Assert.That(File.Exists(Path.Combine(output, "ckptmpi-manifest.json")), Is.False);
    }

    [Test]
    public void Detect_recognises_the_universal_root_and_its_tag_folder_and_leaves_the_megads_root_alone()
    {
        Assert.That(FormatRegistry.Detect(RealUniversal).Format.Name, Is.EqualTo(UniversalFormat.FormatName));
        Assert.That(FormatRegistry.Detect(Path.Combine(RealUniversal, "global_step1_universal")).What, Does.Contain("global_step1_universal"));
        Assert.That(FormatRegistry.Detect(Step1).Format.Name, Is.EqualTo(MegaDsFormat.FormatName));
        // Megatron's save root holds both 'latest' and 'latest_universal' once ds_to_universal ran: megads reads it.
        string both = Path.Combine(_dir, "both");
        MegaDsToHfTests.CopyDir(Step1, both);
        MegaDsToHfTests.CopyDir(RealUniversal, both);
        Assert.That(FormatRegistry.Detect(both).Format.Name, Is.EqualTo(MegaDsFormat.FormatName));
    }
}
