using Ckptmpi.Conversion.Verify;
using Ckptmpi.Errors;
using Ckptmpi.Formats.NxD;
using Ckptmpi.Formats.Safetensors;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Tests.Conversion.Formats.Nxd;

/// <summary>
/// Against checkpoints written by NxD's real converter (tests/fixtures/nxdt): HF -> NxDT gives the same tree (rank
/// files, and the empty tensor folders of xser) and rank files (keys in order, dtypes, shapes, tensor bytes), and the
/// converter's own rank files read back to the HF model they came from, bit for bit. The one case where we write
/// something else on purpose (trn2 with KV replication) is checked against the layout NxD's trn2 model expects.
/// </summary>
public sealed class NxdFixtureTests
{
    /// <summary>trn2 with kv_size_multiplier &gt; 1: the converter tiles the K/V replicas, NxD's trn2 KV groups are blocked.</summary>
    private const string Trn2Replicated = "hf-gqa-tp4-pp1-trn2-kv2-qkvlinear";

    private string _dir = null!;

    [SetUp]
    public void SetUp() => _dir = TestPaths.NewTempDir();

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    public static IEnumerable<TestCaseData> RepoCases() =>
        Directory.EnumerateDirectories(Path.Combine(NxdTestSupport.Fixtures, "cases")).Select(Path.GetFileName).Order(StringComparer.Ordinal)
            .Select(c => new TestCaseData(c).SetName($"Fixture {c}: HF -> NxDT equals the real converter's files and its files read back bit-exact"));

    [TestCaseSource(nameof(RepoCases))]
    public void Repository_fixture(string name) => CheckCase(NxdTestSupport.Fixtures, name);

    private void CheckCase(string root, string name)
    {
        string caseDir = Path.Combine(root, "cases", name);
        var (options, source) = NxdTestSupport.FixtureCase(caseDir);
        string model = Path.Combine(root, source);
        string output = Path.Combine(_dir, name);
        // The one state-dict file the converter reads, given by path under another name (any torch.load-able file
        // works), with config.json beside it; the full set's folders also hold model.safetensors.
        string folder = Path.Combine(_dir, name + "-hf");
        Directory.CreateDirectory(folder);
        string input = Path.Combine(folder, "full_state.pt");
        File.Copy(Path.Combine(model, "pytorch_model.bin"), input);
        File.Copy(Path.Combine(model, "config.json"), Path.Combine(folder, "config.json"));

        NxdTestSupport.Convert("hf", "nxdt", input, output, options);
        bool trn2 = name == Trn2Replicated;
        Func<string, string, bool>? skip = trn2 ? (_, key) => key.EndsWith("weight_k", StringComparison.Ordinal) || key.EndsWith("weight_v", StringComparison.Ordinal) : null;
        Assert.That(NxdTestSupport.CompareRankFolders(Path.Combine(output, "model"), Path.Combine(caseDir, "model"), skip), Is.Empty, name);
        // The same tree: the rank files, and with xser the converter's empty <file>.tensors/ folder beside each.
        Assert.That(NxdTestSupport.Tree(Path.Combine(output, "model")), Is.EqualTo(NxdTestSupport.Tree(Path.Combine(caseDir, "model"))), "model/ holds what the converter's holds");
        Assert.That(NxdTestSupport.Tree(Path.Combine(output, "model")).Count, Is.EqualTo(options.TpSize * options.PpSize * (options.Xser ? 2 : 1)));
        SamePickles(Path.Combine(output, "model"), Path.Combine(caseDir, "model"), trn2);
        if (trn2) KvHeadsAreBlocked(output, model, options);

        SourceCatalog reference = PytorchBinCheckpoint.OpenFile(input);
        // Our files read back bit-exact ...
        CompareHf(reference, NxdTestSupport.Convert("nxdt", "hf", output, Path.Combine(_dir, name + "-back"), options));
        // ... and so do the real converter's (except the trn2 layout we do not write: its replicas are not where trn2 keeps them).
        string theirs = Path.Combine(_dir, name + "-theirs-back");
        var fromReal = options with { Config = Path.Combine(model, "config.json") };
        if (!trn2) CompareHf(reference, NxdTestSupport.Convert("nxdt", "hf", caseDir, theirs, fromReal));
    }

    /// <summary>
    /// The pickled object graph of every rank file is the converter's, byte for byte (keys, storage keys, dtypes, shapes,
    /// strides, in order), and so is every storage record. The zip framing may differ: torch 1.13 wrote the fixtures
    /// (no <c>byteorder</c> record, storages in name order), we write torch 2.1+'s framing; torch.load reads both.
    /// Cases whose input holds rotary <c>inv_freq</c> buffers are left out: there we write fewer keys on purpose.
    /// </summary>
    private static void SamePickles(string ours, string theirs, bool trn2)
    {
        foreach (string file in Directory.EnumerateFiles(theirs, "*.pt"))
        {
            var expected = NxdTestSupport.ArchiveRecords(file);
            if (NxdTestSupport.RankTensors(file).Any(t => t.Key.EndsWith("inv_freq", StringComparison.Ordinal))) continue;
            var actual = NxdTestSupport.ArchiveRecords(Path.Combine(ours, Path.GetFileName(file)));
            Assert.That(actual["data.pkl"], Is.EqualTo(expected["data.pkl"]), $"{Path.GetFileName(file)}: data.pkl");
            var storages = expected.Keys.Where(k => k.StartsWith("data/", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToList();
            Assert.That(actual.Keys.Where(k => k.StartsWith("data/", StringComparison.Ordinal)).Order(StringComparer.Ordinal), Is.EqualTo(storages), Path.GetFileName(file));
            // trn2 with replication: the K/V storages hold the blocked replicas (checked by KvHeadsAreBlocked).
            if (!trn2)
            {
                foreach (string k in storages) Assert.That(actual[k], Is.EqualTo(expected[k]), $"{Path.GetFileName(file)}: {k}");
            }
        }
    }

    private static void CompareHf(SourceCatalog expected, string back)
    {
        SourceCatalog actual = SafetensorsCheckpoint.Open(back);
        // rotary inv_freq buffers in an old input are left out by the HF reader (docs/formats/nxdt.md) but carried from
        // the converter's rank files, which hold them: the weights are what must come back.
        static SourceCatalog Weights(SourceCatalog c) => new(c.Root, c.Tensors.Where(t => !t.Name.EndsWith(".rotary_emb.inv_freq", StringComparison.Ordinal)).ToList());
        expected = Weights(expected);
        actual = Weights(actual);
        var have = actual.Tensors.Select(t => (t.Name, t.DType)).ToHashSet();
        var want = expected.Tensors.Select(t => (t.Name, t.DType)).ToHashSet();
        Assert.That(have.Except(want).Concat(want.Except(have)), Is.Empty, "tensors only on one side (name, dtype)");
        Assert.That(CatalogComparer.Compare(expected, actual), Is.Empty);
    }

    /// <summary>trn2: rank t holds KV head <c>t div m</c> (NxD's trn2 KV groups), beside query heads <c>[t*nq/TP, (t+1)*nq/TP)</c> of that head's group.</summary>
    private static void KvHeadsAreBlocked(string output, string model, NxdOptions o)
    {
        var hf = NxdTestSupport.RankTensors(Path.Combine(model, "pytorch_model.bin"));
        const int HeadRows = 8;
        for (int t = 0; t < o.TpSize; t++)
        {
            var rank = NxdTestSupport.RankTensors(Path.Combine(output, NxdPaths.RankFile(t, 0)));
            foreach (string proj in new[] { "k", "v" })
            {
                var stored = rank.Single(x => x.Key == $"model.layers.1.self_attn.qkv_proj.weight_{proj}");
                var full = hf.Single(x => x.Key == $"model.layers.1.self_attn.{proj}_proj.weight");
                int head = t / o.KvSizeMultiplier, rowBytes = stored.Bytes.Length / HeadRows;
                Assert.That(stored.Bytes, Is.EqualTo(full.Bytes[(head * HeadRows * rowBytes)..((head + 1) * HeadRows * rowBytes)]), $"rank {t} {proj}");
            }
        }
    }

    [Test]
    public void The_real_converters_trn2_replicas_are_refused_as_replicas_that_differ()
    {
        string caseDir = Path.Combine(NxdTestSupport.Fixtures, "cases", Trn2Replicated);
        var (options, source) = NxdTestSupport.FixtureCase(caseDir);
        var withConfig = options with { Config = Path.Combine(NxdTestSupport.Fixtures, source, "config.json") };
        var e = Assert.Throws<Ckptmpi.Errors.RankFailedException>(() => NxdTestSupport.Convert("nxdt", "hf", caseDir, Path.Combine(_dir, "out"), withConfig))!;
        Assert.That(e.Message, Does.Contain("dp_rank_00_tp_rank_01_pp_rank_00.pt").And.Contain("model.layers.0.self_attn.k_proj.weight").And.Contain("differs"));
    }
}
