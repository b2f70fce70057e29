using Ckptmpi.Conversion.Demo;
using Ckptmpi.Conversion.Manifests;
using Ckptmpi.Conversion.Verify;
using Ckptmpi.Formats.Meta;
using Ckptmpi.Formats.Safetensors;

namespace Ckptmpi.Tests.Formats.Meta;

/// <summary>HF -> Meta shards against the shards Meta's own code wrote, and HF -> Meta -> HF round trips.</summary>
public sealed class HfToMetaTests
{
    private string _dir = null!;

    [SetUp]
    public void SetUp() => _dir = TestPaths.NewTempDir();

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    // l3 at MP4 is more shards than its 2 KV heads: the fixture is Meta's resharder's output from MP2 (heads [0,0,1,1]).
    [TestCase("l3", 1, "l3_mp1")]
    [TestCase("l3", 2, "l3_mp2")]
    [TestCase("l3", 4, "l3_mp4_kvdup")]
    [TestCase("l2", 1, "l2_mp1")]
    [TestCase("l2", 2, "l2_mp2")]
    [TestCase("l2", 4, "l2_mp4")]
    public void HF_to_Meta_equals_the_shards_Meta_wrote(string hf, int mp, string meta)
    {
        string output = Path.Combine(_dir, "meta");
        MetaFixtures.Convert("hf", "meta", MetaFixtures.Dir(Path.Combine("hf", hf)), output, ranks: 3, new MetaOptions { MpSize = mp });
        string reference = MetaFixtures.Dir(meta);
        Assert.That(MetaFixtures.CompareShards(reference, output), Is.Empty);
        MetaParams ours = MetaParams.Parse(File.ReadAllText(Path.Combine(output, "params.json")), "ours");
        MetaParams theirs = MetaParams.Parse(File.ReadAllText(Path.Combine(reference, "params.json")), "reference");
        Assert.That((ours.Dim, ours.Layers, ours.Heads, ours.KvHeads, ours.FfnDim, ours.NormEps, ours.RopeTheta, ours.UseScaledRope),
            Is.EqualTo((theirs.Dim, theirs.Layers, theirs.Heads, theirs.KvHeads, theirs.FfnDim, theirs.NormEps, theirs.RopeTheta, theirs.UseScaledRope)));
        Assert.That(ours.VocabSize, Is.EqualTo(theirs.VocabSize > 0 ? theirs.VocabSize : 256), "Llama 2's -1 (from the tokenizer) becomes the real size");
    }

    [TestCase("l3", 1), TestCase("l3", 2), TestCase("l3", 4), TestCase("l3", 8)]
    [TestCase("l2", 1), TestCase("l2", 2), TestCase("l2", 4)]
    public void HF_to_Meta_to_HF_is_bit_exact(string hf, int mp)
    {
        string source = MetaFixtures.Dir(Path.Combine("hf", hf));
        string meta = Path.Combine(_dir, "meta"), back = Path.Combine(_dir, "back");
        MetaFixtures.Convert("hf", "meta", source, meta, ranks: 2, new MetaOptions { MpSize = mp });
        Assert.That(Directory.GetFiles(meta, "consolidated.*.pth"), Has.Length.EqualTo(mp));
        MetaFixtures.Convert("meta", "hf", meta, back, ranks: 3);
        Assert.That(CatalogComparer.Compare(SafetensorsCheckpoint.Open(source), SafetensorsCheckpoint.Open(back)), Is.Empty);
        Assert.That(MetaFixtures.CompareConfig(Path.Combine(source, "config.json"), Path.Combine(back, "config.json")), Is.Empty);
    }

    [Test]
    public void A_Llama_2_checkpoint_with_its_embedding_cut_on_dim_0_is_read_by_its_shapes()
    {
        // llama-models' resharder cuts every embedding on dim 0, Llama 2's too: the reader goes by the shards' shapes.
        string source = MetaFixtures.Dir(Path.Combine("hf", "l2"));
        string meta = Path.Combine(_dir, "meta"), back = Path.Combine(_dir, "back");
        MetaFixtures.Convert("hf", "meta", source, meta, ranks: 2, new MetaOptions { MpSize = 2, Version = "3" });
        Assert.That(MetaFixtures.Shard(Path.Combine(meta, MetaPaths.Shard(1)))["tok_embeddings.weight"].Shape, Is.EqualTo(new long[] { 128, 64 }));
        MetaFixtures.Convert("meta", "hf", meta, back, ranks: 2);
        Assert.That(CatalogComparer.Compare(SafetensorsCheckpoint.Open(source), SafetensorsCheckpoint.Open(back)), Is.Empty);
        Assert.That(MetaFixtures.CompareConfig(Path.Combine(source, "config.json"), Path.Combine(back, "config.json")), Is.Empty, "still Llama 2 (context 4096, tokens 1/2)");
    }

    [Test]
    public void Without_from_a_Meta_folder_is_recognised()
    {
        string output = Path.Combine(_dir, "hf");
        ProcessResult r = TestPaths.RunCkptmpi(["convert", "--to", "hf", "--input", MetaFixtures.Dir("l2_mp4"), "--output", output]);
        Assert.That(r.ExitCode, Is.EqualTo(0), r.ToString());
        Assert.That(r.Stderr, Does.Contain("a Meta Llama checkpoint (4 consolidated.NN.pth shards)"));
        Assert.That(CatalogComparer.Compare(SafetensorsCheckpoint.Open(MetaFixtures.Dir(Path.Combine("hf", "l2"))), SafetensorsCheckpoint.Open(output)), Is.Empty);
    }

    [TestCase(8), TestCase(16)]
    public void A_synthetic_GQA_model_round_trips_at_MP_above_its_KV_heads(int mp)
    {
        // 16 query heads over 4 KV heads: MP 8 and 16 store each KV head 2 and 4 times.
        string source = Path.Combine(_dir, "hf");
        new DemoModel { HiddenSize = 128, IntermediateSize = 352, Layers = 2, Heads = 16, KvHeads = 4, VocabSize = 512, MaxShardBytes = 300_000 }.Write(source);
        string meta = Path.Combine(_dir, "meta"), back = Path.Combine(_dir, "back");
        MetaFixtures.Convert("hf", "meta", source, meta, ranks: 4, new MetaOptions { MpSize = mp });
        MetaParams p = MetaParams.Parse(File.ReadAllText(Path.Combine(meta, "params.json")), "ours");
        Assert.That((p.KvHeads, p.FfnDim), Is.EqualTo(((long)mp, 352L)), "params.json declares the stored heads, and its FFN arguments give the width");
        // Each shard's wk holds one head, repeated in place: shards 0..r-1 all hold head 0.
        int r = mp / 4;
        string wk = "layers.1.attention.wk.weight";
        byte[] Head(int shard) { var range = MetaFixtures.RangeOf(Path.Combine(meta, MetaPaths.Shard(shard)), wk); return File.ReadAllBytes(Path.Combine(meta, MetaPaths.Shard(shard)))[(int)range.Start..(int)range.End]; }
        Assert.That(Head(r - 1), Is.EqualTo(Head(0)));
        Assert.That(Head(r), Is.Not.EqualTo(Head(0)));
        MetaFixtures.Convert("meta", "hf", meta, back, ranks: 2);
        Assert.That(CatalogComparer.Compare(SafetensorsCheckpoint.Open(source), SafetensorsCheckpoint.Open(back)), Is.Empty);
        Assert.That(File.ReadAllText(Path.Combine(back, "config.json")), Does.Contain("\"num_key_value_heads\": 4"));
    }

    [Test]
    public void The_output_is_byte_identical_for_1_2_and_4_conversion_ranks()
    {
        var runs = new List<Manifest>();
        foreach (int ranks in new[] { 1, 2, 4 })
        {
            string output = Path.Combine(_dir, $"meta-{ranks}");
            MetaFixtures.Convert("hf", "meta", MetaFixtures.Dir(Path.Combine("hf", "l3")), output, ranks, new MetaOptions { MpSize = 4 });
            runs.Add(Manifest.Read(output));
        }
        var reference = runs[0].Outputs.Select(o => (o.Path, o.Size, o.Checksum)).ToList();
        Assert.That(reference.Select(r => r.Path), Does.Contain("consolidated.03.pth").And.Contain("params.json"));
        foreach (Manifest m in runs.Skip(1)) Assert.That(m.Outputs.Select(o => (o.Path, o.Size, o.Checksum)), Is.EqualTo(reference));
    }
}

/// <summary>Meta's layout paired with DeepSpeed ZeRO, the other format the registry holds, both ways.</summary>
public sealed class MetaZeroPairTests
{
    [Test]
    public void Meta_to_ZeRO_to_HF_and_ZeRO_to_Meta_are_bit_exact()
    {
        string dir = TestPaths.NewTempDir();
        try
        {
            var zero = Ckptmpi.Tests.Conversion.TrainingSettingsForTests.Zero(3, 3);
            Ckptmpi.Conversion.ConvertRequest Request(string from, string to, string input, string output, Ckptmpi.Formats.FormatOptions? o) => new()
            {
                From = from, To = to, Input = input, Output = output, MaxBuffer = 64 << 10, DType = to == "zero" ? null : Ckptmpi.Tensors.DType.BF16, FormatOptions = o is null ? [] : [o],
            };
            void Run(Ckptmpi.Conversion.ConvertRequest r) => Ckptmpi.Parallel.ThreadCommunicator.Run(2, comm => Ckptmpi.Conversion.ConversionJob.Run(comm, r), TimeSpan.FromSeconds(120));
            string z = Path.Combine(dir, "zero"), back = Path.Combine(dir, "back"), meta = Path.Combine(dir, "meta");
            Run(Request("meta", "zero", MetaFixtures.Dir("l3_mp2"), z, zero));
            Run(Request("zero", "hf", z, back, null));
            string reference = MetaFixtures.Dir(Path.Combine("hf", "l3"));
            Assert.That(CatalogComparer.Compare(SafetensorsCheckpoint.Open(reference), SafetensorsCheckpoint.Open(back)), Is.Empty);
            Assert.That(MetaFixtures.CompareConfig(Path.Combine(reference, "config.json"), Path.Combine(back, "config.json")), Is.Empty);
            Run(Request("zero", "meta", z, meta, new MetaOptions { MpSize = 4 }));
            Assert.That(MetaFixtures.CompareShards(MetaFixtures.Dir("l3_mp4_kvdup"), meta), Is.Empty);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
