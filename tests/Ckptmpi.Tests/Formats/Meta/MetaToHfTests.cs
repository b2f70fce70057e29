using Ckptmpi.Conversion.Manifests;
using Ckptmpi.Conversion.Verify;
using Ckptmpi.Formats.Meta;
using Ckptmpi.Formats.Safetensors;

namespace Ckptmpi.Tests.Formats.Meta;

/// <summary>Meta shards -> HF against what transformers' own conversion script made from the same shards.</summary>
public sealed class MetaToHfTests
{
    private string _dir = null!;

    [SetUp]
    public void SetUp() => _dir = TestPaths.NewTempDir();

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    // l3_mp4_kvdup stores each of its 2 KV heads twice: by default the copies are removed (the model is l3's, as
    // transformers makes it from the MP1 and MP2 files); --meta-kv-heads 4 keeps them, as transformers' script does.
    [TestCase("l3_mp1", "l3", null)]
    [TestCase("l3_mp2", "l3", null)]
    [TestCase("l2_mp1", "l2", null)]
    [TestCase("l2_mp2", "l2", null)]
    [TestCase("l2_mp4", "l2", null)]
    [TestCase("l3_mp4_kvdup", "l3", null)]
    [TestCase("l3_mp4_kvdup", "l3_mp4_kvdup", 4)]
    public void Meta_to_HF_equals_transformers_output_bit_for_bit(string meta, string hf, int? kvHeads)
    {
        string output = Path.Combine(_dir, "hf");
        MetaFixtures.Convert("meta", "hf", MetaFixtures.Dir(meta), output, ranks: 2, new MetaOptions { KvHeads = kvHeads });
        string reference = MetaFixtures.Dir(Path.Combine("hf", hf));
        var expected = SafetensorsCheckpoint.Open(reference);
        Assert.That(CatalogComparer.Compare(expected, SafetensorsCheckpoint.Open(output)), Is.Empty);
        Assert.That(expected.Tensors, Has.Count.GreaterThan(20));
        Assert.That(MetaFixtures.CompareConfig(Path.Combine(reference, "config.json"), Path.Combine(output, "config.json")), Is.Empty);
        // transformers' script labels its bf16 weights float16; ours says what the weights are.
        Assert.That(File.ReadAllText(Path.Combine(output, "config.json")), Does.Contain("\"torch_dtype\": \"bfloat16\""));
    }

    [Test]
    public void The_output_is_byte_identical_for_1_2_and_4_conversion_ranks()
    {
        var runs = new List<Manifest>();
        foreach (int ranks in new[] { 1, 2, 4 })
        {
            string output = Path.Combine(_dir, $"hf-{ranks}");
            MetaFixtures.Convert("meta", "hf", MetaFixtures.Dir("l3_mp4_kvdup"), output, ranks);
            runs.Add(Manifest.Read(output));
        }
        var reference = runs[0].Outputs.Select(o => (o.Path, o.Size, o.Checksum)).ToList();
        Assert.That(reference.Select(r => r.Path), Does.Contain("model.safetensors").And.Contain("config.json"));
        foreach (Manifest m in runs.Skip(1)) Assert.That(m.Outputs.Select(o => (o.Path, o.Size, o.Checksum)), Is.EqualTo(reference));
    }

    [Test]
    public void The_tokenizer_model_is_carried_to_HF_and_to_a_resharded_Meta_checkpoint()
    {
        string input = MetaFixtures.Copy(MetaFixtures.Dir("l3_mp2"), Path.Combine(_dir, "in"));
        byte[] tokenizer = new byte[300_001];
        new Random(7).NextBytes(tokenizer);
        File.WriteAllBytes(Path.Combine(input, MetaPaths.Tokenizer), tokenizer);
        string hf = Path.Combine(_dir, "hf"), meta = Path.Combine(_dir, "meta");
        MetaFixtures.Convert("meta", "hf", input, hf, ranks: 2);
        MetaFixtures.Convert("meta", "meta", input, meta, ranks: 2, new MetaOptions { MpSize = 4 });
        Assert.That(File.ReadAllBytes(Path.Combine(hf, MetaPaths.Tokenizer)), Is.EqualTo(tokenizer));
        Assert.That(File.ReadAllBytes(Path.Combine(meta, MetaPaths.Tokenizer)), Is.EqualTo(tokenizer));
        Assert.That(MetaFixtures.CompareShards(MetaFixtures.Dir("l3_mp4_kvdup"), meta), Is.Empty, "MP2 -> MP4 as Meta's resharder does it");
        Assert.That(Manifest.Read(hf).Inputs.Select(i => Path.GetFileName(i.Path)), Does.Contain(MetaPaths.Tokenizer));
    }

    [Test]
    public void Each_shard_piece_is_one_box_however_many_rows_it_has()
    {
        var catalog = new MetaFormat().Reader.Open(new Ckptmpi.Formats.ReadSettings(MetaFixtures.Dir("l3_mp2")), new MetaOptions()).Catalog;
        Assert.That(catalog["model.layers.0.self_attn.q_proj.weight"].Pieces, Has.Count.EqualTo(2), "one piece per shard, not one per row");
        Assert.That(catalog["model.layers.0.self_attn.q_proj.weight"].Pieces[0].Permutation, Is.EqualTo(new[] { 0, 2, 1, 3 }));
        Assert.That(catalog["model.norm.weight"].Pieces, Has.Count.EqualTo(1), "replicated: read from shard 0 only");
        var dedup = new MetaFormat().Reader.Open(new Ckptmpi.Formats.ReadSettings(MetaFixtures.Dir("l3_mp4_kvdup")), new MetaOptions()).Catalog;
        var k = dedup["model.layers.2.self_attn.k_proj.weight"];
        Assert.That(k.Shape, Is.EqualTo(new long[] { 16, 64 }));
        Assert.That(k.Pieces.Select(p => p.File), Is.EqualTo(new[] { "consolidated.00.pth", "consolidated.02.pth" }), "each KV head read once, from the first shard that holds it");
    }
}
