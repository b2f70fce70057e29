using Ckptmpi.Conversion;
using Ckptmpi.Conversion.Verify;
using Ckptmpi.Formats;
using Ckptmpi.Formats.MegaDs;
using Ckptmpi.Formats.Torch;
using Ckptmpi.Formats.Torch.Pickle;
using Ckptmpi.Formats.Universal;
using Ckptmpi.Parallel;
using Ckptmpi.Tensors.Layout;
using Ckptmpi.Tests.Formats.DeepSpeed;

namespace Ckptmpi.Tests.Formats.MegaDs;

/// <summary>
/// <c>--to megads</c> from a trained source (the real Megatron-DeepSpeed runs at step 1, DeepSpeed's universal
/// checkpoint of one, a ZeRO checkpoint) carries the fp32 masters, both Adam moments, the step, the iteration and the
/// tag into the target topology's partitions: read back they equal the source's bit for bit; the files have the
/// object graph of a real run's step-1 checkpoint at that topology; at the source's own topology they equal the real
/// checkpoint byte for byte but for the padded vocabulary rows (which the HF view of a checkpoint does not hold, and
/// which start at zero, as a universal checkpoint load leaves them).
/// </summary>
public sealed class MegaDsReshardTests
{
    private string _dir = null!;

    [SetUp]
    public void SetUp() => _dir = TestPaths.NewTempDir();

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    private const string Tp2Pp2Dp2 = "tp2_pp2_dp2", Tp1Pp1Dp1 = "tp1_pp1_dp1", Tp1Pp2Dp1 = "tp1_pp2_dp1", ZeroOpt = "tp2_pp1_dp2_zeroopt", Tied = "tp2_pp2_dp1_tied";

    private static string Fixture(string topology) => Path.Combine(MegaDsFixtures.Repo, topology);

    /// <summary>The source folder of a case: a megads save root (<c>step1</c>) or a universal one (<c>step1_universal</c>).</summary>
    private static string Source(string from, string topology) => Path.Combine(Fixture(topology), from == UniversalFormat.FormatName ? "step1_universal" : "step1");

    /// <summary>The fixture whose ds_config.json (and real step-1 checkpoint) is of the target topology.</summary>
    private static (int Tp, int Pp, int Dp) Topology(string fixture) => fixture switch
    {
        Tp2Pp2Dp2 => (2, 2, 2),
        Tp1Pp1Dp1 => (1, 1, 1),
        Tp1Pp2Dp1 => (1, 2, 1),
        ZeroOpt => (2, 1, 2),
        Tied => (2, 2, 1),
        _ => throw new ArgumentException(fixture),
    };

    /// <summary>The conversion through the command line (as a user runs it); rank 0's notes are on stderr.</summary>
    private string Reshard(string from, string source, string like, string name = "out")
    {
        string output = Path.Combine(_dir, name);
        var (tp, pp, dp) = Topology(like);
        ProcessResult r = TestPaths.RunCkptmpi(["convert", "--from", from, "--to", MegaDsFormat.FormatName, "--input", source, "--output", output,
            "--tp-size", $"{tp}", "--pp-size", $"{pp}", "--dp-size", $"{dp}", "--ds-config", Path.Combine(Fixture(like), "ds_config.json")], timeoutSeconds: 180);
        Assert.That(r.ExitCode, Is.EqualTo(0), r.ToString());
        Assert.That(r.Stderr, Does.Not.Contain("not carried"), "a trained source's state is carried");
        Assert.That(r.Stderr, Does.Contain("padded vocabulary rows start at zero"));
        return output;
    }

    /// <summary>A conversion on <paramref name="ranks"/> ranks (threads), the job's own API.</summary>
    private static string Convert(string from, string input, string output, int ranks, string like)
    {
        var (tp, pp, dp) = Topology(like);
        var request = new ConvertRequest
        {
            From = from, To = MegaDsFormat.FormatName, Input = input, Output = output, MaxBuffer = 64 << 10, NoReport = true,
            FormatOptions = [new MegaDsOptions { TpSize = tp, PpSize = pp, DpSize = dp, DsConfig = Path.Combine(Fixture(like), "ds_config.json") }],
        };
        ThreadCommunicator.Run(ranks, comm => ConversionJob.Run(comm, request), TimeSpan.FromSeconds(120));
        return output;
    }

    /// <summary>A checkpoint's HF tensors with the Adam moments and steps, through our reader.</summary>
    private static SourceCatalog WithStates(string from, string dir) => from == UniversalFormat.FormatName
        ? new UniversalReader().Open(new ReadSettings(dir), new UniversalOptions { WithOptimizerStates = true }).Catalog
        : new MegaDsReader().Open(new ReadSettings(dir), new MegaDsOptions { WithOptimizerStates = true }).Catalog;

    [TestCase("megads", Tp2Pp2Dp2, Tp1Pp1Dp1)]
    [TestCase("megads", Tp1Pp1Dp1, Tp2Pp2Dp2)]
    [TestCase("megads", Tp2Pp2Dp2, ZeroOpt)]
    [TestCase("megads", ZeroOpt, Tp1Pp1Dp1)]
    [TestCase("megads", Tied, Tp1Pp1Dp1)]
    [TestCase("universal", Tp2Pp2Dp2, Tp1Pp1Dp1)]
    [TestCase("universal", Tp1Pp1Dp1, Tp2Pp2Dp2)]
    public void Read_back_the_masters_moments_and_steps_equal_the_sources_bit_for_bit(string from, string source, string target)
    {
        string input = Source(from, source);
        string output = Reshard(from, input, target);
        SourceCatalog theirs = WithStates(from, input), ours = WithStates(MegaDsFormat.FormatName, output);
        int weights = theirs.Tensors.Count(t => t.Name.EndsWith(".weight", StringComparison.Ordinal));
        Assert.That(weights, Is.EqualTo(from == "megads" && source == Tied ? 20 : 21));
        Assert.That(theirs.Tensors.Count(t => t.Name.EndsWith(".exp_avg_sq", StringComparison.Ordinal)), Is.EqualTo(weights), "every HF tensor's moments");
        Assert.That(ours.Tensors.Select(t => t.Name), Is.EquivalentTo(theirs.Tensors.Select(t => t.Name)));
        Assert.That(CatalogComparer.Compare(theirs, ours), Is.Empty);
        Assert.That(File.ReadAllText(Path.Combine(output, "latest")), Is.EqualTo("global_step1"), "the iteration's tag, as the trainer names it");
        var model = (PyDict)TorchArchive.Open(Path.Combine(output, "global_step1", "mp_rank_00_model_states.pt")).Root;
        Assert.That(((PyInt)model.Get("iteration")!).AsLong, Is.EqualTo(1));
        Assert.That(((PyInt)model.Get("global_steps")!).AsLong, Is.EqualTo(1));
    }

    /// <summary>
    /// Against a real run's step-1 checkpoint at the target topology: every file, every pickled object graph (keys,
    /// types, order, scalar values, tensor dtype/shape/stride/storage sharing) and the save-root markers are the same.
    /// The tensor values differ (another run: its data-parallel size sets its global batch, so its step saw other
    /// samples; at another tensor-parallel size the bf16 sums run in another order, so the moments differ in low bits),
    /// and so do the fields <see cref="HfToMegaDsTests"/> lists as not reproduced (the run's paths, rng_state,
    /// and do_valid/do_test, which the run's data loaders set).
    /// </summary>
    [TestCase("megads", Tp2Pp2Dp2, Tp1Pp1Dp1)]
    [TestCase("megads", Tp1Pp1Dp1, Tp2Pp2Dp2)]
    [TestCase("megads", Tp2Pp2Dp2, ZeroOpt)]
    [TestCase("universal", Tp1Pp1Dp1, Tp2Pp2Dp2)]
    [TestCase("megads", Tp1Pp2Dp1, ZeroOpt)]
    public void Has_the_object_graph_of_a_real_run_at_the_target_topology(string from, string source, string target)
    {
        string output = Reshard(from, Source(from, source), target);
        Assert.That(Differences(output, Path.Combine(Fixture(target), "step1"), compareBytes: false), Is.Empty);
    }

    /// <summary>
    /// Where the real run at the target topology did the same arithmetic (the source's own topology, or another
    /// pipeline size at the same tensor and data-parallel sizes: the tp1 pp1 dp1 and tp1 pp2 dp1 runs saw the same
    /// samples, and pipeline stages do not change a sum), the output is that run's checkpoint, every storage byte equal
    /// (masters, both moments, steps, bf16 weights rounded from the masters as DeepSpeed rounds them, model states),
    /// except the elements of the padded vocabulary rows (trained in the real run, zero in ours), rng_state and the
    /// fields not reproduced. From DeepSpeed's universal checkpoints too.
    /// </summary>
    [TestCase("megads", Tp2Pp2Dp2, Tp2Pp2Dp2)]
    [TestCase("megads", Tp1Pp1Dp1, Tp1Pp1Dp1)]
    [TestCase("megads", ZeroOpt, ZeroOpt)]
    [TestCase("megads", Tied, Tied)]
    [TestCase("universal", Tp2Pp2Dp2, Tp2Pp2Dp2)]
    [TestCase("universal", Tp1Pp1Dp1, Tp1Pp1Dp1)]
    [TestCase("megads", Tp1Pp1Dp1, Tp1Pp2Dp1)]
    [TestCase("megads", Tp1Pp2Dp1, Tp1Pp1Dp1)]
    [TestCase("universal", Tp1Pp1Dp1, Tp1Pp2Dp1)]
    public void Equals_the_real_checkpoint_of_the_same_arithmetic_but_for_the_padded_vocabulary_rows(string from, string source, string target)
    {
        string output = Reshard(from, Source(from, source), target);
        var ignored = new List<string>();
        Assert.That(Differences(output, Path.Combine(Fixture(target), "step1"), compareBytes: true, ignored), Is.Empty);
        // The real run trained its padded rows (the LM head's logits get gradients), so they do differ from our zeros.
        Assert.That(ignored.Where(x => x.Contains("optim_states", StringComparison.Ordinal)), Is.Not.Empty, "the masters' and moments' padded rows");
        Assert.That(ignored.Where(x => x.Contains("layer_", StringComparison.Ordinal)), Is.Not.Empty, "the bf16 weights' padded rows");
    }

    [Test]
    public void One_two_and_four_ranks_write_the_same_bytes()
    {
        foreach (var (from, source, target) in new[] { ("megads", Tp1Pp1Dp1, Tp2Pp2Dp2), ("universal", Tp2Pp2Dp2, ZeroOpt) })
        {
            string one = Convert(from, Source(from, source), Path.Combine(_dir, $"{from}1"), 1, target);
            foreach (int ranks in new[] { 2, 4 })
            {
                string many = Convert(from, Source(from, source), Path.Combine(_dir, $"{from}{ranks}"), ranks, target);
                var files = Files(one).Where(f => !f.StartsWith("ckptmpi-", StringComparison.Ordinal)).ToList();
                Assert.That(Files(many).Where(f => !f.StartsWith("ckptmpi-", StringComparison.Ordinal)), Is.EqualTo(files));
                foreach (string f in files)
                    Assert.That(File.ReadAllBytes(Path.Combine(many, f)), Is.EqualTo(File.ReadAllBytes(Path.Combine(one, f))), $"{from} on {ranks} ranks: {f}");
            }
        }
    }

    /// <summary>megads -> ZeRO (which carries the state) -> megads: the ZeRO checkpoint's state reaches the megads target, the same bytes as straight from megads.</summary>
    [Test]
    public void A_trained_ZeRO_checkpoint_carries_its_state_into_megads()
    {
        string ds = ZeroDsConfig();
        string zero = Path.Combine(_dir, "zero");
        ProcessResult r = TestPaths.RunCkptmpi(["convert", "--from", "megads", "--to", "zero", "--input", Source("megads", Tp2Pp2Dp2), "--output", zero, "--dp-size", "2", "--ds-config", ds]);
        Assert.That(r.ExitCode, Is.EqualTo(0), r.ToString());
        string viaZero = Reshard("zero", zero, Tp1Pp1Dp1, "via_zero");
        string direct = Reshard("megads", Source("megads", Tp2Pp2Dp2), Tp1Pp1Dp1, "direct");
        var files = Files(direct).Where(f => !f.StartsWith("ckptmpi-", StringComparison.Ordinal)).ToList();
        Assert.That(Files(viaZero).Where(f => !f.StartsWith("ckptmpi-", StringComparison.Ordinal)), Is.EqualTo(files));
        foreach (string f in files) Assert.That(File.ReadAllBytes(Path.Combine(viaZero, f)), Is.EqualTo(File.ReadAllBytes(Path.Combine(direct, f))), f);
    }

    /// <summary>A ZeRO-1 job of the fixture model on torch Adam (which keeps the step as a tensor, as Megatron's 'adam' does).</summary>
    private string ZeroDsConfig()
    {
        string ds = Path.Combine(_dir, "zero_ds_config.json");
        File.WriteAllText(ds, """
            {"train_batch_size": 4, "train_micro_batch_size_per_gpu": 2, "gradient_clipping": 1.0, "zero_optimization": {"stage": 1}, "bf16": {"enabled": true},
             "optimizer": {"type": "Adam", "params": {"lr": 0.001, "betas": [0.9, 0.95], "eps": 1e-8, "weight_decay": 0.1, "torch_adam": true}}}
            """);
        return ds;
    }

    /// <summary>
    /// A real DeepSpeed ZeRO-1 run (bf16, torch Adam, dp 2, step 1) of another Llama (hidden 65, head_dim 16, 4 heads,
    /// 2 KV heads), whose parameters have the HF names, into a Megatron-DeepSpeed tp 2 pp 2 layout: its masters,
    /// moments and steps read back bit for bit.
    /// </summary>
    [Test]
    public void A_real_DeepSpeed_ZeRO_run_reshards_into_megads_and_reads_back_bit_for_bit()
    {
        string input = Path.Combine(DeepSpeedFixtures.Root, "z1_w2_bf16"), config = Path.Combine(DeepSpeedFixtures.Root, "config.json");
        string output = Path.Combine(_dir, "out");
        ProcessResult r = TestPaths.RunCkptmpi(["convert", "--from", "zero", "--to", "megads", "--input", input, "--config", config, "--output", output,
            "--tp-size", "2", "--pp-size", "2", "--dp-size", "1", "--ds-config", Path.Combine(Fixture(Tp1Pp1Dp1), "ds_config.json")]);
        Assert.That(r.ExitCode, Is.EqualTo(0), r.ToString());
        Assert.That(r.Stderr, Does.Not.Contain("not carried"));
        SourceCatalog theirs = new Ckptmpi.Formats.DeepSpeed.ZeroReader().Open(new ReadSettings(input),
            new Ckptmpi.Formats.DeepSpeed.ZeroOptions { WithOptimizerStates = true, Config = config }).Catalog;
        SourceCatalog ours = WithStates(MegaDsFormat.FormatName, output);
        Assert.That(theirs.Tensors.Count(t => t.Name.EndsWith(".exp_avg", StringComparison.Ordinal)), Is.EqualTo(21));
        Assert.That(ours.Tensors.Select(t => t.Name), Is.EquivalentTo(theirs.Tensors.Select(t => t.Name)));
        Assert.That(CatalogComparer.Compare(theirs, ours), Is.Empty);
        Assert.That(File.ReadAllText(Path.Combine(output, "latest")), Is.EqualTo("global_step1"));
    }

    [Test]
    public void A_source_without_Adam_state_still_says_the_moments_are_not_carried()
    {
        string zero = Path.Combine(_dir, "zero");
        ProcessResult r = TestPaths.RunCkptmpi(["convert", "--from", "hf", "--to", "zero", "--input", MegaDsFixtures.HfDir(MegaDsFixtures.Repo), "--output", zero,
            "--dp-size", "2", "--ds-config", ZeroDsConfig()]);
        Assert.That(r.ExitCode, Is.EqualTo(0), r.ToString());
        string output = Path.Combine(_dir, "out");
        r = TestPaths.RunCkptmpi(["convert", "--from", "zero", "--to", "megads", "--input", zero, "--output", output,
            "--tp-size", "1", "--pp-size", "1", "--dp-size", "1", "--ds-config", Path.Combine(Fixture(Tp1Pp1Dp1), "ds_config.json")]);
        Assert.That(r.ExitCode, Is.EqualTo(0), r.ToString());
        Assert.That(r.Stderr, Does.Contain("not carried into the megads target"));
        Assert.That(File.ReadAllText(Path.Combine(output, "latest")), Is.EqualTo("global_step0"));
    }

    [Test]
    public void An_iteration_other_than_the_sources_is_refused()
    {
        ProcessResult r = TestPaths.RunCkptmpi(["convert", "--from", "megads", "--to", "megads", "--input", Source("megads", Tp2Pp2Dp2), "--output", Path.Combine(_dir, "out"),
            "--tp-size", "1", "--pp-size", "1", "--dp-size", "1", "--ds-config", Path.Combine(Fixture(Tp1Pp1Dp1), "ds_config.json"), "--iteration", "5"]);
        Assert.That(r.ExitCode, Is.EqualTo(2), r.ToString());
        Assert.That(r.Stderr, Does.Contain("--iteration 5").And.Contain("iteration 1"));
        Assert.That(Directory.Exists(Path.Combine(_dir, "out", "global_step1")), Is.False);
    }

    [Test]
    public void A_FusedAdam_target_refuses_torch_Adams_per_parameter_steps_naming_the_option()
    {
        string args = Path.Combine(_dir, "args.json");
        File.WriteAllText(args, """{"ds_fused_adam": true}""");
        ProcessResult r = TestPaths.RunCkptmpi(["convert", "--from", "megads", "--to", "megads", "--input", Source("megads", Tp2Pp2Dp2), "--output", Path.Combine(_dir, "out"),
            "--tp-size", "1", "--pp-size", "1", "--dp-size", "1", "--ds-config", Path.Combine(Fixture(Tp1Pp1Dp1), "ds_config.json"), "--megatron-args", args]);
        Assert.That(r.ExitCode, Is.EqualTo(2), r.ToString());
        Assert.That(r.Stderr, Does.Contain("ds_fused_adam").And.Contain("torch Adam"));
    }

    /// <summary>DeepSpeed's own ds_to_universal merges our resharded partitions back into the source run's state.</summary>
    [Test]
    public void DeepSpeeds_ds_to_universal_of_a_reshard_gives_back_the_sources_state()
    {
        Peers.DeepSpeedPeer.RequirePresent();
        MegaDsFixtures.RequireTorch();
        string input = Source("megads", Tp1Pp1Dp1);
        string output = Reshard("megads", input, Tp2Pp2Dp2);
        string work = Path.Combine(_dir, "work");
        Directory.CreateDirectory(work);
        var r = TestPaths.RunProcess(TestPaths.Python, [Path.Combine(TestPaths.RepoRoot, "tests", "peer", "ds_to_universal.py"), Peers.DeepSpeedPeer.Root, work,
            Path.Combine(output, "global_step1"), Path.Combine(output, "global_step1_universal")], timeoutSeconds: 600);
        Assert.That(r.ExitCode, Is.EqualTo(0), r.Stderr);
        SourceCatalog merged = new UniversalReader().Open(new ReadSettings(Path.Combine(output, "global_step1_universal")), new UniversalOptions { WithOptimizerStates = true }).Catalog;
        Assert.That(CatalogComparer.Compare(WithStates("megads", input), merged), Is.Empty);
    }

    // ---- comparing with a real checkpoint ----

    private static readonly string[] NotReproduced =
    [
        "root/'args'/<state>/'save'", "root/'args'/<state>/'trace_dir'", "root/'args'/<state>/'do_valid'", "root/'args'/<state>/'do_test'",
    ];

    /// <param name="ignored">collects "file tensor-storage" for every storage that differed only in padded-row elements.</param>
    private static List<string> Differences(string output, string real, bool compareBytes, List<string>? ignored = null)
    {
        var expected = Files(real);
        var differences = new List<string>();
        var ours = Files(output).Where(f => !f.StartsWith("ckptmpi-", StringComparison.Ordinal) && f != "config.json").ToList();
        if (!ours.SequenceEqual(expected)) differences.Add($"files [{string.Join(", ", ours)}] vs [{string.Join(", ", expected)}]");
        foreach (string f in expected.Intersect(ours))
        {
            string a = Path.Combine(output, f), b = Path.Combine(real, f);
            if (!f.EndsWith(".pt", StringComparison.Ordinal))
            {
                if (!File.ReadAllBytes(a).SequenceEqual(File.ReadAllBytes(b))) differences.Add($"{f}: bytes differ");
                continue;
            }
            TorchArchive x = TorchArchive.Open(a), y = TorchArchive.Open(b);
            if (y.Root is PyDict root) root.Items.RemoveAll(kv => kv.Key is PyString { Value: "rng_state" });
            var padded = PaddedRows(x, f);
            bool Padded(PyTensor t, long e)
            {
                if (!padded.TryGetValue(t, out var r) || !r.Any(p => e >= p.Lo && e < p.Hi)) return false;
                ignored?.Add($"{f} storage {t.Storage.Key}");
                return true;
            }
            var cmp = new PyGraphComparer(x, y, Padded) { CompareBytes = compareBytes };
            foreach (string path in NotReproduced) cmp.ValuesMayDiffer.Add(path);
            cmp.Compare();
            differences.AddRange(cmp.Differences);
        }
        return differences;
    }

    /// <summary>
    /// The storage elements of our file that hold padded vocabulary rows: in a layer file the rows past the real
    /// vocabulary of the word embeddings or LM head; in an optimizer file the parts of each group's partition (masters
    /// and both moments) where the embedding's or head's fragment covers those rows, found from the param_slice_mappings
    /// and the param_shapes of the model-state file.
    /// </summary>
    private static Dictionary<PyTensor, List<(long Lo, long Hi)>> PaddedRows(TorchArchive ours, string file)
    {
        var result = new Dictionary<PyTensor, List<(long, long)>>(ReferenceEqualityComparer.Instance);
        string dir = Path.GetDirectoryName(ours.Path)!;
        var ms = (PyDict)TorchArchive.Open(Path.Combine(dir, "mp_rank_00_model_states.pt")).Root;
        var args = (PyDict)((PyObject)ms.Get("args")!).State!;
        long Arg(string name) => ((PyInt)((PyDict)args).Get(name)!).AsLong;
        long tp = Arg("tensor_model_parallel_size"), vocab = ((PyInt)((PyDict)ms.Get("universal_checkpoint_info")!).Get("original_vocab_size")!).AsLong;
        long padded = Arg("padded_vocab_size"), hidden = Arg("hidden_size"), rows = padded / tp;
        long Real(long t) => Math.Clamp(vocab - t * rows, 0, rows);
        static bool IsVocab(string name) => name.EndsWith(MegaDsLayout.WordEmbeddings, StringComparison.Ordinal) || name.EndsWith(MegaDsLayout.LmHead, StringComparison.Ordinal);
        string name = Path.GetFileName(file);
        if (MegaDsPaths.TryParseLayerFile(name, out _, out int lt))
        {
            foreach (var (key, value) in ((PyDict)ours.Root).Items)
                if (key is PyString s && IsVocab(s.Value)) result[(PyTensor)value] = [(Real(lt) * hidden, rows * hidden)];
            return result;
        }
        if (!Ckptmpi.Formats.DeepSpeed.DeepSpeedPaths.TryParseOptimStates(name, out int d, out int mp, out _)) return result;
        long t = mp % tp;
        var shapes = (PyList)((PyDict)TorchArchive.Open(Path.Combine(dir, $"mp_rank_{mp:D2}_model_states.pt")).Root).Get("param_shapes")!;
        var osd = (PyDict)((PyDict)ours.Root).Get("optimizer_state_dict")!;
        var partitions = (PyList)osd.Get("single_partition_of_fp32_groups")!;
        var mappings = (PyList)osd.Get("param_slice_mappings")!;
        var state = (PyDict)((PyDict)osd.Get("base_optimizer_state")!).Get("state")!;
        for (int g = 0; g < partitions.Items.Count; g++)
        {
            var partition = (PyTensor)partitions.Items[g];
            long size = partition.Storage.ElementCount, flatOffset = 0;
            var ranges = new List<(long, long)>();
            var offsets = new Dictionary<string, long>(StringComparer.Ordinal);
            foreach (var (k, shape) in ((PyDict)shapes.Items[g]).Items)
            {
                offsets[((PyString)k).Value] = flatOffset;
                flatOffset += ((PyObject)shape).Args.Items.OfType<PyTuple>().Single().Items.Aggregate(1L, (n, x) => n * ((PyInt)x).AsLong);
            }
            foreach (var (k, address) in ((PyDict)mappings.Items[g]).Items)
            {
                string param = ((PyString)k).Value;
                if (!IsVocab(param)) continue;
                var fields = (PyDict)((PyObject)address).State!;
                long numel = ((PyInt)fields.Get("numel")!).AsLong, start = ((PyInt)fields.Get("start")!).AsLong;
                long paramOffset = d * size + start - offsets[param];
                long lo = Math.Max(start, start + Real(t) * hidden - paramOffset);
                if (lo < start + numel) ranges.Add((lo, start + numel));
            }
            result[partition] = ranges;
            if (state.Items.FirstOrDefault(kv => kv.Key is PyInt i && i.AsLong == g).Value is PyDict s)
                foreach (string m in new[] { "exp_avg", "exp_avg_sq" }) result[(PyTensor)s.Get(m)!] = ranges;
        }
        return result;
    }

    private static List<string> Files(string root) =>
        Directory.GetFiles(root, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(root, f)).Order(StringComparer.Ordinal).ToList();
}
