using System.Text.Json.Nodes;
using Ckptmpi.Tests.Peers;

namespace Ckptmpi.Tests.Formats.MegaDs;

/// <summary>
/// DeepSpeed 0.14.4's real PipelineEngine (the shared peer, on CPU with gloo, pp x dp processes) loads what the real
/// program writes for Megatron-DeepSpeed: <c>convert --from hf --to megads</c> at pipeline sizes 1 and 2, and
/// <c>--from megads --to universal</c> of the trained fixture at another data-parallel size.
/// <c>tests/peer/check_pipe_load.py</c> builds GPTModelPipe's layer list in plain torch (Megatron is not installed),
/// loads with <c>engine.load_checkpoint</c> including the optimizer partitions, compares every module weight, fp32
/// master and Adam moment bit for bit with values it derives itself (the HF weights in Megatron's layout, or the live
/// engine's references), and trains one step. Damaged checkpoints show the check can fail.
/// </summary>
[NonParallelizable]
public sealed class MegaDsPipelinePeerTests
{
    private string _dir = null!;

    [SetUp]
    public void SetUp() => _dir = TestPaths.NewTempDir();

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    private static string Script => Path.Combine(TestPaths.RepoRoot, "tests", "peer", "check_pipe_load.py");

    private static string Hf => MegaDsFixtures.HfDir(MegaDsFixtures.Repo);

    private static string Tp1 => Path.Combine(MegaDsFixtures.Repo, "tp1_pp1_dp1");

    private static void RequirePeer()
    {
        DeepSpeedPeer.RequirePresent();
        if (!File.Exists(TestPaths.Python)) Assert.Ignore($"{TestPaths.Python} is missing");
        var probe = TestPaths.RunProcess(TestPaths.Python, ["-c", "import torch, pydantic, psutil, cpuinfo, tqdm, packaging, numpy, msgpack"], timeoutSeconds: 120);
        if (probe.ExitCode != 0) Assert.Ignore($"the peer needs python3-torch python3-pydantic python3-psutil python3-cpuinfo python3-tqdm python3-packaging python3-numpy python3-msgpack: {probe.Stderr.Trim()}");
    }

    private const string Bf16Optimizer = "BF16_Optimizer", ZeroOptimizer = "DeepSpeedZeroOptimizer";

    /// <summary>
    /// The fixture run's DeepSpeed config (bf16, ZeRO-1, grad_accum_dtype fp32: BF16_Optimizer; without
    /// grad_accum_dtype DeepSpeed's ZeRO-1 optimizer) with the batch of this topology: micro-batch 2,
    /// <paramref name="pp"/> micro-batches per step (so two stages overlap), dp replicas.
    /// </summary>
    private string DsConfig(int pp, int dp, string optimizer = Bf16Optimizer)
    {
        var conf = JsonNode.Parse(File.ReadAllText(Path.Combine(Tp1, "ds_config.json")))!.AsObject();
        conf["train_batch_size"] = 2 * pp * dp;
        conf["train_micro_batch_size_per_gpu"] = 2;
        if (optimizer == ZeroOptimizer) conf.Remove("data_types");
        string path = Path.Combine(_dir, $"ds_config_pp{pp}_dp{dp}_{optimizer}.json");
        File.WriteAllText(path, conf.ToJsonString());
        return path;
    }

    private static void Convert(params string[] args)
    {
        ProcessResult r = TestPaths.RunCkptmpi(["convert", .. args, "--no-report"], timeoutSeconds: 120);
        Assert.That(r.ExitCode, Is.Zero, r.ToString());
    }

    private string ToMegaDs(int pp, int dp, string ds, string? hf = null)
    {
        string output = Path.Combine(_dir, $"megads_pp{pp}_dp{dp}");
        Convert("--from", "hf", "--to", "megads", "--input", hf ?? Hf, "--output", output, "--tp-size", "1", "--pp-size", $"{pp}", "--dp-size", $"{dp}", "--ds-config", ds);
        return output;
    }

    private string ToUniversal()
    {
        string output = Path.Combine(_dir, "universal");
        Convert("--from", "megads", "--to", "universal", "--input", Path.Combine(Tp1, "step1"), "--output", output, "--with-optimizer-states");
        return output;
    }

    private ProcessResult Check(string checkpoint, int pp, int dp, string ds, params string[] mode)
    {
        string hf = mode.Length > 1 && mode[0] == "--hf" ? mode[1] : Hf;
        ProcessResult r = TestPaths.RunProcess(TestPaths.Python,
            [Script, checkpoint, "--pp", $"{pp}", "--dp", $"{dp}", "--ds-config", ds, "--config", Path.Combine(hf, "config.json"), .. mode],
            new Dictionary<string, string?> { ["PEER_HARNESS"] = Path.Combine(DeepSpeedPeer.Root, "harness"), ["DS_SRC"] = DeepSpeedPeer.SourceTree }, timeoutSeconds: 600);
        TestContext.Out.WriteLine(r.Stdout);
        return r;
    }

    private string UniversalRef => Path.Combine(Tp1, "refs", "step1_mp_rank_00.pt");

    /// <summary>Changes one element of one tensor in a torch.save'd dict (a layer file, or a universal fp32.pt's "param").</summary>
    private static void Damage(string file, string key, int index, double by) => TestPaths.RunPython("""
        import sys, torch
        path, key, index, by = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
        sd = torch.load(path, map_location="cpu")
        with torch.no_grad():  # ds_to_universal saves its params with requires_grad, as ours does
            flat = sd[key].view(-1)
            flat[index] = flat[index] + by
        torch.save(sd, path)
        """, file, key, $"{index}", by.ToString(System.Globalization.CultureInfo.InvariantCulture));

    // pp 1: one stage holds layers 0..6; pp 2: DeepSpeed's 'type:transformer' partition puts the embedding and the
    // first transformer layer on stage 0 (mp_rank_00), the second layer, the final norm and the head on stage 1. dp 2
    // splits each stage's flat fp32 masters over two ranks (the two optimizers record its padding differently).
    // The tied case and the damaged-layer case below run pp 2 as well. pp 2 x dp 2 (4 processes) passes too, but
    // takes as long as two of these on a small machine.
    [TestCase(1, 2, Bf16Optimizer)]
    [TestCase(2, 1, Bf16Optimizer)]
    [TestCase(1, 2, ZeroOptimizer)]
    public void PipelineEngine_loads_our_hf_to_megads_output_bit_for_bit_and_trains(int pp, int dp, string optimizer)
    {
        RequirePeer();
        string ds = DsConfig(pp, dp, optimizer);
        ProcessResult r = Check(ToMegaDs(pp, dp, ds), pp, dp, ds, "--hf", Hf);
        Assert.That(r.ExitCode, Is.Zero, r.ToString());
        int ranks = pp * dp;
        Assert.That(r.Stdout, Does.Contain($"check_pipe_load: PASS"), r.ToString());
        foreach (string line in new[] { "param_shapes: this stage's", "loaded the layer files and the optimizer partitions", "module weights (bf16) = HF in Megatron's layout",
                     "fp32 masters = HF values", "Adam state after load: 0 entries", "trains: loss" })
            Assert.That(CountOk(r.Stdout, line), Is.EqualTo(ranks), $"{line}\n{r}");
        Assert.That(r.Stdout, Does.Contain($"stage {pp - 1} of {pp}: layers").And.Contain($"optimizer {optimizer}"), r.ToString());
    }

    /// <summary>
    /// Tied embeddings (GPTModelPipe's TiedLayerSpec 'embed'): both end stages hold
    /// <c>tied_modules.embed.word_embeddings.weight</c>; the first loads it from layer_01, the last gets it by
    /// DeepSpeed's broadcast of tied weights, and each has its fp32 master in its own optimizer partition.
    /// </summary>
    [Test]
    public void PipelineEngine_loads_our_tied_embedding_output_on_both_end_stages()
    {
        RequirePeer();
        const int pp = 2, dp = 1;
        string ds = DsConfig(pp, dp), hf = HfToMegaDsTests.TiedHf(_dir);
        ProcessResult r = Check(ToMegaDs(pp, dp, ds, hf), pp, dp, ds, "--hf", hf);
        Assert.That(r.ExitCode, Is.Zero, r.ToString());
        Assert.That(CountOk(r.Stdout, "fp32 masters = HF values"), Is.EqualTo(2), r.ToString());
        Assert.That(CountOk(r.Stdout, "trains: loss"), Is.EqualTo(2), r.ToString());
        Assert.That(r.Stdout, Does.Contain("[rank 1 stage 1] ok   module weights (bf16) = HF in Megatron's layout: 8 tensors equal"), r.ToString());
    }

    [Test]
    public void A_damaged_weight_in_a_layer_file_fails_the_pipeline_check()
    {
        RequirePeer();
        string ds = DsConfig(2, 1);
        string megads = ToMegaDs(2, 1, ds);
        Damage(Path.Combine(megads, "global_step0", "layer_03-model_00-model_states.pt"), "self_attention.dense.weight", 100, 0.5);
        ProcessResult r = Check(megads, 2, 1, ds, "--hf", Hf);
        Assert.That(r.ExitCode, Is.Not.Zero, r.ToString());
        Assert.That(r.Stdout, Does.Contain("FAIL module weights (bf16) = HF in Megatron's layout: 3.self_attention.dense.weight: 1/1024 elements differ")
            .And.Contain("check_pipe_load: FAIL"), r.ToString());
        // The masters come from the optimizer file, which is intact: only the layer file's weight is reported.
        Assert.That(r.Stdout, Does.Contain("[rank 1 stage 1] ok   fp32 masters = HF values: 8 tensors equal"), r.ToString());
        // The undamaged first stage passes every check: pp 2 x dp 1 loads as the other topologies do.
        string[] stage0 = r.Stdout.Split('\n').Where(l => l.StartsWith("[rank 0 stage 0]", StringComparison.Ordinal)).ToArray();
        Assert.That(stage0.Count(l => l.Contains("] ok   ", StringComparison.Ordinal)), Is.EqualTo(8), r.ToString());
        Assert.That(stage0.Any(l => l.Contains("FAIL", StringComparison.Ordinal)), Is.False, r.ToString());
    }

    // The source was saved at dp 1; DeepSpeed's universal load repartitions every parameter by name for dp 2.
    [Test]
    public void PipelineEngine_loads_our_universal_output_at_another_data_parallel_size()
    {
        RequirePeer();
        const int pp = 1, dp = 2;
        string ds = DsConfig(pp, dp);
        ProcessResult r = Check(ToUniversal(), pp, dp, ds, "--universal", "--ref", UniversalRef);
        Assert.That(r.ExitCode, Is.Zero, r.ToString());
        int ranks = pp * dp;
        foreach (string line in new[] { "module weights (bf16) = the masters in bf16", "ok   fp32 masters:", "Adam exp_avg:", "Adam exp_avg_sq:", "Adam step [1]", "trains: loss" })
            Assert.That(CountOk(r.Stdout, line), Is.EqualTo(ranks), $"{line}\n{r}");
    }

    [Test]
    public void A_damaged_master_in_a_universal_checkpoint_fails_the_pipeline_check()
    {
        RequirePeer();
        string ds = DsConfig(1, 2);
        string universal = ToUniversal();
        Damage(Path.Combine(universal, "global_step1_universal", "zero", "3.input_layernorm.weight", "fp32.pt"), "param", 7, 0.25);
        ProcessResult r = Check(universal, 1, 2, ds, "--universal", "--ref", UniversalRef);
        Assert.That(r.ExitCode, Is.Not.Zero, r.ToString());
        Assert.That(r.Stdout, Does.Contain("FAIL fp32 masters: 3.input_layernorm.weight: 1/32 elements differ")
            .And.Contain("check_pipe_load: FAIL"), r.ToString());
    }

    private static int CountOk(string stdout, string what) =>
        stdout.Split('\n').Count(l => l.Contains("] ok   ", StringComparison.Ordinal) && l.Contains(what, StringComparison.Ordinal));
}
