using Ckptmpi.Conversion.Demo;
using Ckptmpi.Conversion.Execution;
using Ckptmpi.Conversion.Manifests;
using Ckptmpi.Conversion.Verify;
using Ckptmpi.Formats.NxD;
using Ckptmpi.Formats.Safetensors;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Tests.Conversion.Formats.Nxd;

/// <summary>
/// HF -> NxDT -> HF is bit-exact beyond the fixtures: Llama-3-shaped GQA (32 query heads, 8 KV heads) and Llama-2-shaped
/// MHA models, both styles, tp 1..32, pp 1..4 (uneven splits too), KV replication 1/2/4 on trn1 and trn2, every
/// attention layout; and the output does not depend on how many ranks convert.
/// </summary>
public sealed class NxdRoundTripTests
{
    private string _dir = null!;

    [OneTimeSetUp]
    public void SetUp() => _dir = TestPaths.NewTempDir("nxdt-roundtrip");

    [OneTimeTearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    private static DemoModel Gqa => new() { HiddenSize = 128, IntermediateSize = 192, Layers = 4, Heads = 32, KvHeads = 8, VocabSize = 256, MaxShardBytes = 300_000 };

    private static DemoModel Mha => new() { HiddenSize = 64, IntermediateSize = 96, Layers = 4, Heads = 8, KvHeads = 8, VocabSize = 128, MaxShardBytes = 300_000 };

    private string Model(string name, DemoModel model)
    {
        string dir = Path.Combine(_dir, "models", name);
        if (!Directory.Exists(dir)) model.Write(dir);
        return dir;
    }

    private static NxdOptions O(int tp, int pp, int m = 1, bool qkv = true, bool fuse = false, bool coalesce = false, bool trn2 = false, bool megatron = false) => new()
    {
        TpSize = tp, PpSize = pp, KvSizeMultiplier = m, QkvLinear = qkv, FuseQkv = fuse, CoalesceQkv = coalesce,
        Hardware = trn2 ? NxdHardware.Trn2 : NxdHardware.Trn1, ModelStyle = megatron ? NxdModelStyle.Megatron : NxdModelStyle.Hf,
    };

    public static IEnumerable<TestCaseData> Cases()
    {
        TestCaseData C(string model, NxdOptions o, string what) => new TestCaseData(model, o).SetName($"Round trip {model} {what}");
        yield return C("gqa", O(1, 1), "hf tp1 pp1 qkv-linear");
        yield return C("gqa", O(8, 2), "hf tp8 pp2 qkv-linear");
        yield return C("gqa", O(16, 3, m: 2), "hf tp16 pp3 m2 trn1 qkv-linear");
        yield return C("gqa", O(32, 4, m: 4, fuse: true), "hf tp32 pp4 m4 trn1 fused");
        yield return C("gqa", O(16, 2, m: 2, trn2: true), "hf tp16 pp2 m2 trn2 qkv-linear");
        yield return C("gqa", O(32, 1, m: 4, fuse: true, trn2: true), "hf tp32 pp1 m4 trn2 fused");
        yield return C("gqa", O(4, 2, qkv: false), "hf tp4 pp2 separate q k v");
        yield return C("gqa", O(8, 4, qkv: false), "hf tp8 pp4 separate q k v");
        yield return C("gqa", O(8, 2, megatron: true), "megatron tp8 pp2 query + key_value");
        yield return C("gqa", O(2, 1, megatron: true), "megatron tp2 pp1 query + key_value");
        yield return C("mha", O(2, 2, qkv: false, coalesce: true), "hf tp2 pp2 coalesced");
        yield return C("mha", O(4, 1, qkv: false), "hf tp4 separate q k v");
        yield return C("mha", O(8, 2, fuse: true), "hf tp8 pp2 trn1 fused");
        yield return C("mha", O(4, 4, trn2: true), "hf tp4 pp4 trn2 qkv-linear");
        yield return C("mha", O(4, 2, qkv: false, megatron: true), "megatron tp4 pp2 query_key_value");
        yield return C("mha", O(1, 3, qkv: false, megatron: true), "megatron tp1 pp3 query_key_value");
        yield return C("tied", O(2, 2), "hf tp2 pp2 tied embeddings");
    }

    [TestCaseSource(nameof(Cases))]
    public void Round_trip_is_bit_exact(string model, NxdOptions options)
    {
        string input = Model(model, model switch { "gqa" => Gqa, "mha" => Mha, _ => Gqa with { TieWordEmbeddings = true } });
        string name = Guid.NewGuid().ToString("N")[..8];
        string nxdt = NxdTestSupport.Convert("hf", "nxdt", input, Path.Combine(_dir, name), options, ranks: 3);
        Assert.That(Directory.EnumerateFiles(Path.Combine(nxdt, "model")).Count(), Is.EqualTo(options.TpSize * options.PpSize));
        string back = NxdTestSupport.Convert("nxdt", "hf", nxdt, Path.Combine(_dir, name + "-back"), options, ranks: 2);
        SourceCatalog expected = SafetensorsCheckpoint.Open(input), actual = SafetensorsCheckpoint.Open(back);
        Assert.That(actual.Tensors.Select(t => (t.Name, t.DType)), Is.EquivalentTo(expected.Tensors.Select(t => (t.Name, t.DType))));
        Assert.That(CatalogComparer.Compare(expected, actual), Is.Empty);
    }

    [Test]
    public void Output_is_byte_identical_for_1_2_and_4_ranks_and_both_io_modes_in_both_directions()
    {
        string input = Model("gqa", Gqa);
        NxdOptions o = O(16, 3, m: 2, fuse: true);
        var forward = new List<Manifest>();
        var backward = new List<Manifest>();
        foreach (var (ranks, io) in new[] { (1, IoMode.Direct), (2, IoMode.Direct), (4, IoMode.Direct), (4, IoMode.Aggregate) })
        {
            string tag = $"ranks-{ranks}-{io}";
            string nxdt = Path.Combine(_dir, tag), back = Path.Combine(_dir, tag + "-back");
            Run("hf", "nxdt", input, nxdt, o, ranks, io);
            Run("nxdt", "hf", nxdt, back, o, ranks, io);
            forward.Add(Manifest.Read(nxdt));
            backward.Add(Manifest.Read(back));
        }
        foreach (var runs in new[] { forward, backward })
        {
            var reference = runs[0].Outputs.Select(x => (x.Path, x.Size, x.Checksum)).ToList();
            foreach (Manifest m in runs.Skip(1)) Assert.That(m.Outputs.Select(x => (x.Path, x.Size, x.Checksum)), Is.EqualTo(reference));
        }
        Assert.That(forward[0].Outputs.Count(x => x.Path.StartsWith("model/", StringComparison.Ordinal)), Is.EqualTo(48));
    }

    private static void Run(string from, string to, string input, string output, NxdOptions o, int ranks, IoMode io)
    {
        var request = new Ckptmpi.Conversion.ConvertRequest { From = from, To = to, Input = input, Output = output, MaxBuffer = 64 << 10, Io = io, FormatOptions = [o] };
        Ckptmpi.Parallel.ThreadCommunicator.Run(ranks, comm => Ckptmpi.Conversion.ConversionJob.Run(comm, request), TimeSpan.FromSeconds(180));
    }
}
