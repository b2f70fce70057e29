using Ckptmpi.Conversion;
using Ckptmpi.Formats;
using Ckptmpi.Formats.DeepSpeed;
using Ckptmpi.Formats.Universal;
using Ckptmpi.Parallel;
using Ckptmpi.Tests.Formats.DeepSpeed;
using Ckptmpi.Tests.Formats.MegaDs;
using Ckptmpi.Tests.Peers;

namespace Ckptmpi.Tests.Formats.Universal;

/// <summary>
/// <c>--from zero --to universal</c> of DeepSpeed's own trained ZeRO-1/2/3 fixtures (step 1, torch AdamW). Proven
/// against the real tool: DeepSpeed 0.14.4's ds_to_universal, run on a copy of the checkpoint whose model-state file
/// gains the <c>universal_checkpoint_info</c> it insists on, writes the same files, pickles and tensor bytes (stage
/// 1/2); it has no ZeRO-3 path, so a stage-3 source must give the parameter folders ds_to_universal writes for our
/// ZeRO-2 reshard of it; and DeepSpeed's engine loads our output at another data-parallel size with the source run's
/// masters, moments and step, and trains on.
/// </summary>
public sealed class ZeroToUniversalTests
{
    private string _dir = null!;

    [SetUp]
    // ds_to_universal builds a regular expression from its output path unescaped: no parentheses from test names.
    public void SetUp() => _dir = TestPaths.NewTempDir(nameof(ZeroToUniversalTests));

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    private static readonly string Config = Path.Combine(DeepSpeedFixtures.Root, "config.json");

    private static string CompareScript => Path.Combine(TestPaths.RepoRoot, "tests", "Ckptmpi.Tests", "Formats", "Universal", "universal_compare.py");

    private static DeepSpeedFixtures.Fixture Fixture(string name) => DeepSpeedFixtures.All.Single(f => f.Name == name);

    private string ToUniversal(string source, int ranks, string name = "universal")
    {
        string output = Path.Combine(_dir, name);
        var request = new ConvertRequest
        {
            From = ZeroFormat.FormatName, To = UniversalFormat.FormatName, Input = source, Output = output, MaxBuffer = 64 << 10,
            FormatOptions = [new ZeroOptions()], NoReport = true,
        };
        ThreadCommunicator.Run(ranks, comm => ConversionJob.Run(comm, request), TimeSpan.FromSeconds(120));
        return output;
    }

    /// <summary>
    /// ds_to_universal's output for a copy of the save root <paramref name="saveRoot"/>: the copy's model-state file
    /// gains <c>universal_checkpoint_info: {}</c> (tp 1, pp 1: no merge patterns), the only change, without which
    /// DeepSpeed refuses the checkpoint. Returns the copy, which then holds <c>latest_universal</c>.
    /// </summary>
    private string DsToUniversal(string saveRoot)
    {
        ProcessResult r = RunDsToUniversal(saveRoot, out string copy);
        Assert.That(r.ExitCode, Is.EqualTo(0), r.ToString());
        return copy;
    }

    private ProcessResult RunDsToUniversal(string saveRoot, out string copy)
    {
        copy = Path.Combine(_dir, "reference-" + Guid.NewGuid().ToString("N")[..8]);
        string work = Path.Combine(_dir, "work");
        MegaDsToHfTests.CopyDir(saveRoot, copy);
        Directory.CreateDirectory(work);
        string tag = File.ReadAllText(Path.Combine(copy, DeepSpeedPaths.Latest)).Trim();
        TestPaths.RunPython(DeepSpeedFixtures.PythonPrelude + """

            p = sys.argv[1]
            sd = torch.load(p, map_location='cpu')
            assert 'universal_checkpoint_info' not in sd
            sd['universal_checkpoint_info'] = {}
            torch.save(sd, p)
            """, Path.Combine(copy, tag, DeepSpeedPaths.ModelStates(0)));
        return TestPaths.RunProcess(TestPaths.Python, [Path.Combine(TestPaths.RepoRoot, "tests", "peer", "ds_to_universal.py"), DeepSpeedPeer.Root, work,
            Path.Combine(copy, tag), Path.Combine(copy, UniversalPaths.TagFor(tag))], timeoutSeconds: 600);
    }

    private static string Compare(string ours, string theirs, string mode) =>
        TestPaths.RunPython(DeepSpeedFixtures.PythonPrelude + File.ReadAllText(CompareScript),
            Path.Combine(ours, "global_step1_universal"), Path.Combine(theirs, "global_step1_universal"), mode).Trim();

    // 21 parameters x 4 state files, optimizer_state.pt, mp_rank_00_model_states.pt.
    [TestCase("z1_w2_bf16")]
    [TestCase("z2_w2_bf16")]
    [TestCase("z1_w1_bf16")]
    [TestCase("z2_w4_fp32")]
    [TestCase("z1_w2_fp16")]
    public void Zero_to_universal_equals_ds_to_universal_file_for_file_pickle_for_pickle(string fixture)
    {
        DeepSpeedPeer.RequirePresent();
        MegaDsFixtures.RequireTorch();
        string theirs = DsToUniversal(Fixture(fixture).Dir);
        string ours = ToUniversal(Fixture(fixture).Dir, 2);
        Assert.That(Compare(ours, theirs, "--rebuilt-model-states"), Is.EqualTo("OK 86 files"));
        Assert.That(File.ReadAllText(Path.Combine(ours, UniversalPaths.LatestUniversal)), Is.EqualTo(File.ReadAllText(Path.Combine(theirs, UniversalPaths.LatestUniversal))));
    }

    /// <summary>
    /// DeepSpeed 0.14.4 converts no ZeRO-3 checkpoint. The chain: our ZeRO-2 reshard of the stage-3 run (proven in
    /// ZeroReshardTests), then ds_to_universal of it, gives the parameter folders our direct conversion writes, bit for
    /// bit. The optimizer dict is the stage-3 run's own (zero_stage 3, partition_count an int, no clip_grad or
    /// group_paddings, which ZeRO-3 does not keep) with ds_version added; what a ZeRO-1/2 universal load reads from it
    /// (loss scaler, overflow, ds_version, param_groups) equals the chain's.
    /// </summary>
    [TestCase("z3_w2_bf16", 2, 2, "z2_w2_bf16")]
    [TestCase("z3_w4_fp32", 1, 4, "z1_w4_fp32")]
    public void A_stage3_source_gives_what_ds_to_universal_gives_for_our_stage2_reshard_of_it(string source, int stage, int dp, string like)
    {
        DeepSpeedPeer.RequirePresent();
        MegaDsFixtures.RequireTorch();
        string reshard = Path.Combine(_dir, "reshard");
        ProcessResult r = TestPaths.RunCkptmpi(["convert", "--from", "zero", "--to", "zero", "--input", Fixture(source).Dir, "--output", reshard,
            "--zero-stage", $"{stage}", "--dp-size", $"{dp}", "--ds-config", Path.Combine(Fixture(like).Dir, "ds_config.json"), "--config", Config, "--no-report"], timeoutSeconds: 180);
        Assert.That(r.ExitCode, Is.EqualTo(0), r.ToString());
        string theirs = DsToUniversal(reshard);
        string ours = ToUniversal(Fixture(source).Dir, 2);
        Assert.That(Compare(ours, theirs, "--states-only"), Is.EqualTo("OK 84 files"));
        string verdict = TestPaths.RunPython(DeepSpeedFixtures.PythonPrelude + """

            x = torch.load(sys.argv[1] + '/zero/optimizer_state.pt'); y = torch.load(sys.argv[2] + '/zero/optimizer_state.pt')
            assert list(x) == ['zero_stage', 'loss_scaler', 'dynamic_loss_scale', 'overflow', 'partition_count', 'ds_version', 'param_groups'], list(x)
            assert int(x['zero_stage']) == 3 and int(y['zero_stage']) == int(sys.argv[3]), (x['zero_stage'], y['zero_stage'])
            assert [x['partition_count']] == y['partition_count'], (x['partition_count'], y['partition_count'])
            assert vars(x['loss_scaler']) == vars(y['loss_scaler'])
            for k in ('dynamic_loss_scale', 'overflow', 'ds_version', 'param_groups'):
                assert x[k] == y[k], (k, x[k], y[k])
            m = torch.load(sys.argv[1] + '/mp_rank_00_model_states.pt')
            assert m['universal_checkpoint_info'] == {} and m['global_steps'] == 1 and m['dp_world_size'] == int(sys.argv[4])
            print('OK')
            """, Path.Combine(ours, "global_step1_universal"), Path.Combine(theirs, "global_step1_universal"), $"{stage}", $"{Fixture(source).World}").Trim();
        Assert.That(verdict, Is.EqualTo("OK"));
    }

    /// <summary>Without the peer: each state file holds the live engine's reference (read from the training run, not its files), bit for bit.</summary>
    [TestCase("z1_w2_bf16")]
    [TestCase("z2_w1_fp32")]
    [TestCase("z3_w4_bf16")]
    [TestCase("z3_w2_fp16")]
    public void Every_state_file_holds_the_source_runs_master_moments_and_step(string fixture)
    {
        MegaDsFixtures.RequireTorch();
        DeepSpeedFixtures.Fixture f = Fixture(fixture);
        AssertHoldsReference(ToUniversal(f.Dir, 2), f.ReferencePath);
    }

    private static void AssertHoldsReference(string ours, string reference)
    {
        string verdict = TestPaths.RunPython(DeepSpeedFixtures.PythonPrelude + """

            root, ref = sys.argv[1], torch.load(sys.argv[2])
            n = 0
            for key in ('fp32', 'exp_avg', 'exp_avg_sq'):
                for name, want in ref[key].items():
                    d = torch.load(f'{root}/zero/{name}/{key}.pt')
                    assert list(d) == ['cat_dim', 'param'] and d['cat_dim'] == 0, (name, key, list(d))
                    t = d['param']
                    assert t.dtype == torch.float32 and t.shape == want.shape and t.requires_grad == (key == 'fp32'), (name, key)
                    assert torch.equal(t.view(torch.int32), want.float().view(torch.int32)), (name, key)
                    n += 1
            for name in ref['fp32']:
                s = torch.load(f'{root}/zero/{name}/step.pt')
                assert torch.is_tensor(s) and s.dim() == 0 and float(s) == float(ref['step']), (name, s)
            print(f'OK {n} tensors')
            """, Path.Combine(ours, "global_step1_universal"), reference).Trim();
        Assert.That(verdict, Is.EqualTo("OK 63 tensors"));
    }

    /// <summary>
    /// dp 768 (as at ALCF) of the fixture model: its one flat group pads to a multiple of 2 x 768, 571 elements, more
    /// than a partition (142). DeepSpeed records all 571 on the last rank, and ds_to_universal's padding strip then
    /// fails with a negative narrow length; ours converts it to the source run's values, equal to what
    /// ds_to_universal writes for the same values with the padding spread over the ranks that hold it.
    /// </summary>
    [Test]
    public void Padding_that_exceeds_a_partition_converts_where_ds_to_universal_crashes()
    {
        DeepSpeedPeer.RequirePresent();
        MegaDsFixtures.RequireTorch();
        DeepSpeedFixtures.Fixture f = Fixture("z1_w2_bf16");
        string spread = Path.Combine(_dir, "spread");
        ProcessResult r = TestPaths.RunCkptmpi(["convert", "--from", "zero", "--to", "zero", "--input", f.Dir, "--output", spread,
            "--zero-stage", "1", "--dp-size", "768", "--ds-config", Path.Combine(f.Dir, "ds_config.json"), "--config", Config, "--no-report"], timeoutSeconds: 180);
        Assert.That(r.ExitCode, Is.EqualTo(0), r.ToString());
        string whole = Path.Combine(_dir, "whole");
        MegaDsToHfTests.CopyDir(spread, whole);
        string made = TestPaths.RunPython(DeepSpeedFixtures.PythonPrelude + File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "tests", "Ckptmpi.Tests", "Formats", "Universal", "zero_whole_padding.py")),
            Path.Combine(whole, "global_step1")).Trim();
        Assert.That(made, Is.EqualTo("OK 768 142 571"));

        ProcessResult crash = RunDsToUniversal(whole, out _);
        Assert.That(crash.ExitCode, Is.Not.EqualTo(0), "DeepSpeed 0.14.4 cannot strip a padding larger than the partition");
        Assert.That(crash.Stderr, Does.Contain("length (-429)"));
        string theirs = DsToUniversal(spread);
        string ours = ToUniversal(whole, 2);
        Assert.That(Compare(ours, theirs, "--rebuilt-model-states"), Is.EqualTo("OK 86 files"));
        AssertHoldsReference(ours, f.ReferencePath);
    }

    [TestCase("z1_w2_bf16")]
    [TestCase("z3_w4_bf16")]
    public void Output_is_identical_for_1_2_and_4_conversion_ranks(string fixture)
    {
        Dictionary<string, byte[]>? first = null;
        foreach (int ranks in new[] { 1, 2, 4 })
        {
            string tag = Path.Combine(ToUniversal(Fixture(fixture).Dir, ranks, $"r{ranks}"), "global_step1_universal");
            var files = Directory.GetFiles(tag, "*", SearchOption.AllDirectories).ToDictionary(f => Path.GetRelativePath(tag, f), File.ReadAllBytes);
            Assert.That(files, Has.Count.EqualTo(86));
            if (first is null) { first = files; continue; }
            Assert.That(files.Keys, Is.EquivalentTo(first.Keys));
            foreach (var (name, bytes) in files) Assert.That(bytes, Is.EqualTo(first[name]), $"{name} on {ranks} ranks");
        }
    }

    [Test]
    public void A_checkpoint_saved_before_the_first_step_is_refused_naming_its_optimizer_file_with_exit_code_3()
    {
        DeepSpeedFixtures.Fixture f = Fixture("z2_w2_bf16_step0");
        string output = Path.Combine(_dir, "out");
        ProcessResult r = TestPaths.RunCkptmpi(["convert", "--from", "zero", "--to", "universal", "--input", f.Dir, "--output", output, "--no-report"]);
        Assert.That(r.ExitCode, Is.EqualTo(3), r.ToString());
        Assert.That(r.Stderr, Does.Contain(Path.Combine("global_step0", "bf16_zero_pp_rank_0_mp_rank_00_optim_states.pt")).And.Contain("no Adam moments"));
        Assert.That(File.Exists(Path.Combine(output, UniversalPaths.LatestUniversal)) || File.Exists(Path.Combine(output, "ckptmpi-manifest.json")), Is.False, "nothing that looks complete");
    }

    [Test]
    public void Nothing_is_lost_so_rank_0_has_nothing_to_say()
    {
        string output = Path.Combine(_dir, "out");
        ProcessResult r = TestPaths.RunCkptmpi(["convert", "--from", "zero", "--to", "universal", "--input", Fixture("z2_w2_bf16").Dir, "--output", output, "--no-report"]);
        Assert.That(r.ExitCode, Is.EqualTo(0), r.ToString());
        Assert.That(r.Stderr, Does.Not.Contain("not carried"));
        Assert.That(File.ReadAllText(Path.Combine(output, UniversalPaths.LatestUniversal)), Is.EqualTo("global_step1_universal"));
    }

    /// <summary>The real consumer: DeepSpeed's engine (load_universal) on another data-parallel size and stage holds the source run's state, and trains.</summary>
    [TestCase("z1_w2_bf16", 2, 1, "z2_w1_bf16")]
    [TestCase("z2_w2_fp32", 1, 4, "z1_w4_fp32")]
    [TestCase("z3_w2_bf16", 2, 4, "z2_w4_bf16")]
    public void DeepSpeed_loads_our_universal_output_at_another_dp_with_the_source_runs_state(string source, int stage, int world, string like)
    {
        DeepSpeedPeer.RequirePresent();
        DeepSpeedFixtures.Fixture f = Fixture(source);
        string ours = ToUniversal(f.Dir, 2);
        ProcessResult r = DeepSpeedPeer.CheckUniversalLoad(ours, stage, world, f.DType, f.ReferencePath, Config, Path.Combine(Fixture(like).Dir, "ds_config.json"));
        Assert.That(r.ExitCode, Is.EqualTo(0), r.ToString());
        Assert.That(r.Stdout, Does.Contain("exp_avg_sq: 21 tensors equal the reference bit for bit").And.Contain("global_steps=1").And.Contain("PASS"));
    }

    [Test]
    public void The_load_check_fails_on_a_damaged_output()
    {
        DeepSpeedPeer.RequirePresent();
        DeepSpeedFixtures.Fixture f = Fixture("z1_w2_bf16");
        string ours = ToUniversal(f.Dir, 2);
        // Two tensors of one shape trade their first moments: every file is still well formed.
        string zero = Path.Combine(ours, "global_step1_universal", "zero");
        string k = Path.Combine(zero, "model.layers.0.self_attn.k_proj.weight", "exp_avg.pt"), v = Path.Combine(zero, "model.layers.0.self_attn.v_proj.weight", "exp_avg.pt");
        byte[] kb = File.ReadAllBytes(k);
        File.WriteAllBytes(k, File.ReadAllBytes(v));
        File.WriteAllBytes(v, kb);
        ProcessResult r = DeepSpeedPeer.CheckUniversalLoad(ours, 2, 1, f.DType, f.ReferencePath, Config, Path.Combine(Fixture("z2_w1_bf16").Dir, "ds_config.json"));
        Assert.That(r.ExitCode, Is.Not.EqualTo(0), r.ToString());
        Assert.That(r.Stdout, Does.Contain("FAIL exp_avg: 2 of 21 tensors differ"));
    }
}
