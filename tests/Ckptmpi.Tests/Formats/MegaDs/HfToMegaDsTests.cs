using System.Buffers.Binary;
using System.Text;
using System.Text.Json.Nodes;
using Ckptmpi.Conversion;
using Ckptmpi.Conversion.Verify;
using Ckptmpi.Formats.MegaDs;
using Ckptmpi.Formats.Safetensors;
using Ckptmpi.Formats.Torch;
using Ckptmpi.Formats.Torch.Pickle;
using Ckptmpi.Parallel;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;
using Ckptmpi.Tests.Formats.DeepSpeed;

namespace Ckptmpi.Tests.Formats.MegaDs;

/// <summary>
/// <c>--from hf --to megads</c> of the HF model the real Megatron-DeepSpeed runs were initialised from equals what
/// those runs saved at iteration 0: the same files, the same pickled object graphs (keys, types, order, tensor
/// metadata, storage sharing) and the same bytes, but for the fields listed in <see cref="NotReproduced"/>.
/// </summary>
public sealed class HfToMegaDsTests
{
    private string _dir = null!;

    [SetUp]
    public void SetUp() => _dir = TestPaths.NewTempDir();

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    /// <summary>
    /// What a conversion cannot reproduce: the run's output and trace paths (args.save, args.trace_dir; ours are None),
    /// and rng_state, the random generators' state after the run's own random initialisation (not written at all).
    /// </summary>
    private static readonly string[] NotReproduced = ["root/'args'/<state>/'save'", "root/'args'/<state>/'trace_dir'"];

    private const string RngState = "rng_state";

    internal static string Convert(string input, string output, int ranks, MegaDsOptions options, int maxBuffer = 256 << 10)
    {
        var request = new ConvertRequest
        {
            From = "hf", To = MegaDsFormat.FormatName, Input = input, Output = output, MaxBuffer = maxBuffer, FormatOptions = [options], NoReport = true,
        };
        ThreadCommunicator.Run(ranks, comm => ConversionJob.Run(comm, request), TimeSpan.FromSeconds(120));
        return output;
    }

    private static MegaDsOptions Options(string fixture, int tp, int pp, int dp) => new()
    {
        TpSize = tp, PpSize = pp, DpSize = dp, DsConfig = Path.Combine(MegaDsFixtures.Repo, fixture, "ds_config.json"),
        Tag = "global_step0",
    };

    /// <summary>The fixture's HF model with tied embeddings (config says so; no lm_head tensor), as the tied run was initialised.</summary>
    internal static string TiedHf(string parent)
    {
        string dir = Path.Combine(parent, "hf_tied");
        Directory.CreateDirectory(dir);
        string src = MegaDsFixtures.HfDir(MegaDsFixtures.Repo);
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(src, "config.json")))!.AsObject();
        config["tie_word_embeddings"] = true;
        File.WriteAllText(Path.Combine(dir, "config.json"), config.ToJsonString());
        WithoutTensor(Path.Combine(src, "model.safetensors"), Path.Combine(dir, "model.safetensors"), "lm_head.weight");
        return dir;
    }

    /// <summary>Copies a safetensors file without one tensor (offsets recomputed).</summary>
    private static void WithoutTensor(string from, string to, string drop)
    {
        byte[] all = File.ReadAllBytes(from);
        long n = BinaryPrimitives.ReadInt64LittleEndian(all);
        var header = JsonNode.Parse(Encoding.UTF8.GetString(all, 8, (int)n))!.AsObject();
        var body = new MemoryStream();
        var kept = new JsonObject();
        foreach (var (name, node) in header.ToList())
        {
            if (name == drop) continue;
            if (name == "__metadata__") { kept[name] = node!.DeepClone(); continue; }
            var offsets = node!["data_offsets"]!.AsArray();
            long a = (long)offsets[0]!, b = (long)offsets[1]!;
            var entry = node.DeepClone().AsObject();
            entry["data_offsets"] = new JsonArray(body.Length, body.Length + (b - a));
            body.Write(all, (int)(8 + n + a), (int)(b - a));
            kept[name] = entry;
        }
        byte[] h = Encoding.UTF8.GetBytes(kept.ToJsonString());
        using var f = File.Create(to);
        Span<byte> len = stackalloc byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(len, h.Length);
        f.Write(len);
        f.Write(h);
        body.Position = 0;
        body.CopyTo(f);
    }

    [TestCase("tp2_pp2_dp2", 2, 2, 2)]
    [TestCase("tp2_pp2_dp1_tied", 2, 2, 1)]
    [TestCase("tp1_pp1_dp1", 1, 1, 1)]
    [TestCase("tp2_pp1_dp2_zeroopt", 2, 1, 2)]
    public void Equals_what_Megatron_DeepSpeed_saved_at_iteration_0(string fixture, int tp, int pp, int dp)
    {
        string hf = fixture.Contains("tied", StringComparison.Ordinal) ? TiedHf(_dir) : MegaDsFixtures.HfDir(MegaDsFixtures.Repo);
        string output = Convert(hf, Path.Combine(_dir, "out"), 2, Options(fixture, tp, pp, dp));
        string expected = Path.Combine(MegaDsFixtures.Repo, fixture, "step0");
        // Beyond Megatron's files: ckptmpi's manifest, and config.json beside 'latest' for the way back.
        Assert.That(Files(output).Where(f => f is not ("ckptmpi-manifest.json" or "config.json")), Is.EqualTo(Files(expected)), "the same files");
        Assert.That(File.ReadAllText(Path.Combine(output, "config.json")), Is.EqualTo(File.ReadAllText(Path.Combine(hf, "config.json"))));
        var differences = new List<string>();
        foreach (string f in Files(expected))
        {
            string ours = Path.Combine(output, f), theirs = Path.Combine(expected, f);
            if (!f.EndsWith(".pt", StringComparison.Ordinal))
            {
                if (!File.ReadAllBytes(ours).SequenceEqual(File.ReadAllBytes(theirs))) differences.Add($"{f}: bytes differ");
                continue;
            }
            TorchArchive a = TorchArchive.Open(ours), b = TorchArchive.Open(theirs);
            if (b.Root is PyDict root && root.Get(RngState) is not null)
            {
                Assert.That(((PyDict)a.Root).Get(RngState), Is.Null);
                root.Items.RemoveAll(kv => kv.Key is PyString { Value: RngState });
            }
            var cmp = new PyGraphComparer(a, b);
            foreach (string path in NotReproduced) cmp.ValuesMayDiffer.Add(path);
            cmp.Compare();
            differences.AddRange(cmp.Differences);
        }
        Assert.That(differences, Is.Empty);
    }

    [Test]
    public void At_iteration_1_Megatrons_state_equals_what_the_real_run_saved_after_one_step()
    {
        // Only the weights and the optimizer state moved in the real step; the model-state files (args, schedule,
        // counters) and the markers at the save root are what the run saved.
        string output = Convert(MegaDsFixtures.HfDir(MegaDsFixtures.Repo), Path.Combine(_dir, "out"), 2, Options("tp2_pp2_dp2", 2, 2, 2) with { Iteration = 1, Tag = null });
        string expected = Path.Combine(MegaDsFixtures.Repo, "tp2_pp2_dp2", "step1");
        var differences = new List<string>();
        foreach (string f in Files(expected).Where(f => !f.EndsWith(".pt", StringComparison.Ordinal)))
        {
            if (!File.ReadAllBytes(Path.Combine(output, f)).SequenceEqual(File.ReadAllBytes(Path.Combine(expected, f)))) differences.Add($"{f}: bytes differ");
        }
        foreach (string f in Files(expected).Where(f => Path.GetFileName(f).StartsWith("mp_rank_", StringComparison.Ordinal)))
        {
            TorchArchive a = TorchArchive.Open(Path.Combine(output, f)), b = TorchArchive.Open(Path.Combine(expected, f));
            ((PyDict)b.Root).Items.RemoveAll(kv => kv.Key is PyString { Value: RngState });
            var cmp = new PyGraphComparer(a, b);
            foreach (string path in NotReproduced) cmp.ValuesMayDiffer.Add(path);
            // Set by the run's data loaders once it trains (False there, as bools; the template's step-0 ints here).
            cmp.ValuesMayDiffer.Add("root/'args'/<state>/'do_valid'");
            cmp.ValuesMayDiffer.Add("root/'args'/<state>/'do_test'");
            cmp.Compare();
            differences.AddRange(cmp.Differences);
        }
        Assert.That(differences, Is.Empty);
    }

    private static List<string> Files(string root) =>
        Directory.GetFiles(root, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(root, f)).Order(StringComparer.Ordinal).ToList();

    [TestCase("tp2_pp2_dp2", MegaDsWeightSource.Optimizer, DType.F32)]
    [TestCase("tp2_pp2_dp2", MegaDsWeightSource.Module, DType.BF16)]
    [TestCase("tp2_pp1_dp2_zeroopt", MegaDsWeightSource.Optimizer, DType.F32)]
    public void Round_trips_through_the_reader_bit_for_bit(string dsConfigOf, MegaDsWeightSource from, DType dtype)
    {
        string megads = Convert(MegaDsFixtures.HfDir(MegaDsFixtures.Repo), Path.Combine(_dir, "megads"), 2, Options(dsConfigOf, 2, 1, 2));
        string back = MegaDsToHfTests.Convert(megads, Path.Combine(_dir, "back"), 2, new MegaDsOptions { WeightsFrom = from });
        SourceCatalog actual = SafetensorsCheckpoint.Open(back);
        Assert.That(actual.Tensors.Select(t => t.DType).Distinct(), Is.EqualTo(new[] { dtype }));
        // The fixture's HF values are all bf16-representable, so the bf16 layer files give them back exactly too.
        Assert.That(CatalogComparer.Compare(SafetensorsCheckpoint.Open(MegaDsFixtures.HfDir(MegaDsFixtures.Repo)), actual), Is.Empty);
    }

    [Test]
    public void Zero_vocabulary_padding_fits_a_small_buffer_is_the_default_there_and_round_trips()
    {
        // The mean needs the whole [250, 32] fp32 embedding in one pass, more than a 64 KiB buffer's 32 KiB chunk; zeros
        // do not. Asked for, the mean is refused; by default (auto) the padding is zero.
        string hf = MegaDsFixtures.HfDir(MegaDsFixtures.Repo);
        var e = Assert.Catch<Ckptmpi.Errors.RankFailedException>(() => Convert(hf, Path.Combine(_dir, "mean"), 1,
            Options("tp2_pp2_dp2", 2, 2, 2) with { VocabPadding = MegaDsVocabPadding.Mean }, maxBuffer: 64 << 10));
        Assert.That(e!.Message, Does.Contain("--vocab-padding mean").And.Contain("--max-buffer"));
        string zero = Convert(hf, Path.Combine(_dir, "zero"), 1, Options("tp2_pp2_dp2", 2, 2, 2) with { VocabPadding = MegaDsVocabPadding.Zero }, maxBuffer: 64 << 10);
        string megads = Convert(hf, Path.Combine(_dir, "megads"), 2, Options("tp2_pp2_dp2", 2, 2, 2), maxBuffer: 64 << 10);
        foreach (string f in Files(zero).Where(f => f != "ckptmpi-manifest.json"))
            Assert.That(File.ReadAllBytes(Path.Combine(megads, f)), Is.EqualTo(File.ReadAllBytes(Path.Combine(zero, f))), $"auto is zero here: {f}");
        TorchArchive layer = TorchArchive.Open(Path.Combine(megads, "global_step0", "layer_01-model_01-model_states.pt"));
        var w = (PyTensor)((PyDict)layer.Root).Get("word_embeddings.weight")!;
        var bytes = new byte[w.Storage.ByteLength];
        using (var src = new FileByteSource(layer.Path)) src.ReadExactly(layer.RangeOf(w.Storage).Start, bytes);
        Assert.That(bytes.Skip(122 * 32 * 2).All(b => b == 0), "rows 250..255 (local 122..127 of tensor rank 1) are zero");
        Assert.That(bytes.Take(122 * 32 * 2).Any(b => b != 0));
        string back = MegaDsToHfTests.Convert(megads, Path.Combine(_dir, "back"), 2, new MegaDsOptions());
        Assert.That(CatalogComparer.Compare(SafetensorsCheckpoint.Open(hf), SafetensorsCheckpoint.Open(back)), Is.Empty);
    }

    [Test]
    public void A_vocabulary_too_large_for_one_pass_gets_zero_padding_with_a_warning_or_an_error_when_mean_is_asked()
    {
        // Llama-3.1-8B at tp 4: 128256 rows padded to 128512; the [128256, 4096] tensor is more than one pass holds.
        string config = Path.Combine(TestPaths.Fixtures, "configs", "llama-3.1-8b.json");
        string[] common = ["convert", "--from", "hf", "--to", "megads", "--input", config, "--output", Path.Combine(_dir, "out"),
            "--tp-size", "4", "--pp-size", "2", "--dp-size", "2", "--dry-run"];
        var auto = TestPaths.RunCkptmpi(common);
        Assert.That(auto.ExitCode, Is.EqualTo(0), auto.Stderr);
        Assert.That(auto.Stderr, Does.Contain("the 256 padded vocabulary rows are written as zeros"));
        var mean = TestPaths.RunCkptmpi([.. common, "--vocab-padding", "mean"]);
        Assert.That(mean.ExitCode, Is.EqualTo(2), mean.Stderr);
        Assert.That(mean.Stderr, Does.Contain("--vocab-padding mean").And.Contain("use --vocab-padding zero"));
    }

    [Test]
    public void One_two_and_four_ranks_write_the_same_bytes()
    {
        // tp 2, pp 2, dp 3 (the DeepSpeed config built from the args: global batch 6): the data ranks' partitions cut the
        // embedding mid-row, and the ranks split the files at other places than one process does.
        var outputs = new[] { 1, 2, 4 }.Select(r => Convert(MegaDsFixtures.HfDir(MegaDsFixtures.Repo), Path.Combine(_dir, $"r{r}"), r,
            Options("tp2_pp2_dp2", 2, 2, 3) with { DsConfig = null })).ToList();
        List<string> files = Files(outputs[0]).Where(f => f != "ckptmpi-manifest.json").ToList();
        Assert.That(files, Has.Count.EqualTo(10 + 4 + 12 + 3 + 1));
        foreach (string other in outputs.Skip(1))
        {
            Assert.That(Files(other).Where(f => f != "ckptmpi-manifest.json"), Is.EqualTo(files));
            foreach (string f in files)
                Assert.That(File.ReadAllBytes(Path.Combine(other, f)), Is.EqualTo(File.ReadAllBytes(Path.Combine(outputs[0], f))), f);
        }
    }

    [TestCase("3", "the 8 attention heads and the 4 KV heads", "--tp-size 1, 2, 4 would")]
    [TestCase("8", "the 4 KV heads", "--tp-size 1, 2, 4 would")]
    public void A_tp_size_that_does_not_divide_the_heads_is_refused(string tp, string what, string would)
    {
        string output = Path.Combine(_dir, "out");
        var r = TestPaths.RunCkptmpi(["convert", "--from", "hf", "--to", "megads", "--input", MegaDsFixtures.HfDir(MegaDsFixtures.Repo), "--output", output,
            "--tp-size", tp, "--pp-size", "1", "--dp-size", "1", "--no-report"]);
        Assert.That(r.ExitCode, Is.EqualTo(3), r.Stderr);
        Assert.That(r.Stderr, Does.Contain($"--tp-size {tp} does not divide {what}").And.Contain(would).And.Contain("config.json"));
        Assert.That(File.Exists(Path.Combine(output, "latest")), Is.False, "nothing that looks complete");
    }

    [Test]
    public void A_tied_target_refuses_a_separate_output_head()
    {
        string output = Path.Combine(_dir, "out");
        var r = TestPaths.RunCkptmpi(["convert", "--from", "hf", "--to", "megads", "--input", MegaDsFixtures.HfDir(MegaDsFixtures.Repo), "--output", output,
            "--tp-size", "1", "--pp-size", "1", "--dp-size", "1", "--tie-embeddings", "true", "--no-report"]);
        Assert.That(r.ExitCode, Is.EqualTo(3), r.Stderr);
        Assert.That(r.Stderr, Does.Contain("lm_head.weight").And.Contain("--tie-embeddings"));
    }

    [Test]
    public void An_fp16_DeepSpeed_config_is_refused_by_name()
    {
        string ds = Path.Combine(_dir, "ds.json");
        File.WriteAllText(ds, """{"train_batch_size": 2, "train_micro_batch_size_per_gpu": 2, "zero_optimization": {"stage": 1}, "fp16": {"enabled": true}}""");
        var r = TestPaths.RunCkptmpi(["convert", "--from", "hf", "--to", "megads", "--input", MegaDsFixtures.HfDir(MegaDsFixtures.Repo), "--output", Path.Combine(_dir, "out"),
            "--tp-size", "1", "--pp-size", "1", "--dp-size", "1", "--ds-config", ds, "--no-report"]);
        Assert.That(r.ExitCode, Is.EqualTo(2), r.Stderr);
        Assert.That(r.Stderr, Does.Contain("enables fp16").And.Contain("ds.json"));
    }

    [Test]
    public void Megatron_args_override_the_template_and_iteration_moves_the_schedule()
    {
        string args = Path.Combine(_dir, "args.json");
        File.WriteAllText(args, """{"seq_length": 8, "lr": 0.0003, "train_iters": 100, "lr_decay_style": "cosine", "lr_warmup_iters": 0, "lr_decay_iters": 10, "min_lr": 0.00003, "tokenizer_type": "HFTokenizer", "params_dtype": "torch.float16"}""");
        string output = Convert(MegaDsFixtures.HfDir(MegaDsFixtures.Repo), Path.Combine(_dir, "out"), 1,
            new MegaDsOptions { TpSize = 1, PpSize = 1, DpSize = 2, MegatronArgs = args, Iteration = 5, Tag = "global_step5" });
        Assert.That(File.ReadAllText(Path.Combine(output, "latest")), Is.EqualTo("global_step5"));
        Assert.That(File.ReadAllText(Path.Combine(output, "latest_checkpointed_iteration.txt")), Is.EqualTo("5"));
        var root = (PyDict)TorchArchive.Open(Path.Combine(output, "global_step5", "mp_rank_00_model_states.pt")).Root;
        var a = (PyDict)((PyObject)root.Get("args")!).State!;
        Assert.That(a.Get("tokenizer_type"), Is.EqualTo(new PyString("HFTokenizer")), "a field of --megatron-args");
        Assert.That(a.Get("params_dtype"), Is.EqualTo(new PyGlobal("torch", "bfloat16")), "non-JSON fields are built from the target");
        Assert.That(a.Get("data_parallel_size"), Is.EqualTo(new PyInt(2)), "topology from the command line");
        Assert.That(a.Get("global_batch_size"), Is.EqualTo(new PyInt(4)), "micro-batch 2 x dp 2");
        Assert.That(((PyTensor)a.Get("attn_mask")!).Shape, Is.EqualTo(new long[] { 1, 1, 8, 8 }));
        Assert.That(root.Get("iteration"), Is.EqualTo(new PyInt(5)));
        // After training, a real run's args end with curr_iteration and actual_seq_length (372 fields).
        Assert.That(a.Items.TakeLast(2).Select(kv => (((PyString)kv.Key).Value, kv.Value)),
            Is.EqualTo(new[] { ("curr_iteration", (PyValue)new PyInt(4)), ("actual_seq_length", new PyInt(8)) }));
        Assert.That(a.Items, Has.Count.EqualTo(372));
        Assert.That(root.Get("tokens"), Is.EqualTo(new PyInt(5 * 4 * 8)));
        var sched = (PyDict)root.Get("lr_scheduler")!;
        Assert.That(sched.Get("num_steps"), Is.EqualTo(new PyInt(20)));
        // Cosine from 3e-4 to 3e-5 over 40 samples, at 20: the midpoint.
        double lr = 3e-5 + 0.5 * (Math.Cos(Math.PI * 0.5) + 1) * (3e-4 - 3e-5);
        var optim = (PyDict)TorchArchive.Open(Path.Combine(output, "global_step5", "bf16_zero_pp_rank_1_mp_rank_00_optim_states.pt")).Root;
        var group = (PyDict)((PyList)((PyDict)((PyDict)optim.Get("optimizer_state_dict")!).Get("base_optimizer_state")!).Get("param_groups")!).Items[0];
        Assert.That(((PyFloat)group.Get("lr")!).Value, Is.EqualTo(lr));
        Assert.That(File.ReadAllText(Path.Combine(output, "lr_state_dict.yaml")), Is.EqualTo($"iteration: 5\nlr: {MegatronArgs.PyRepr(lr)}\n"));
    }
}
