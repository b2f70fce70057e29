using System.Security.Cryptography;
using Ckptmpi.Errors;
using Ckptmpi.Formats.Safetensors;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Kernels;
using Ckptmpi.Tensors.Layout;
using static Ckptmpi.Tests.Formats.Safetensors.SafetensorsTestFiles;

namespace Ckptmpi.Tests.Formats.Safetensors;

public sealed class SafetensorsCheckpointTests
{
    private static string Hf(string name) => Path.Combine(TestPaths.Fixtures, "hf", name);

    /// <summary>sha256 of every tensor of refs/init_fp32.pt as fp32 and cast by torch to bf16, computed by torch.</summary>
    private static Dictionary<string, (string F32, string Bf16)> TorchReference() => Reference.Value;

    private static readonly Lazy<Dictionary<string, (string F32, string Bf16)>> Reference = new(ComputeTorchReference);

    private static Dictionary<string, (string F32, string Bf16)> ComputeTorchReference()
    {
        string output = TestPaths.RunPython("""
            import sys, hashlib, torch
            d = torch.load(sys.argv[1])
            for k, v in d.items():
                f = v.contiguous().numpy().tobytes()
                b = v.to(torch.bfloat16).view(torch.int16).contiguous().numpy().tobytes()
                print(k, hashlib.sha256(f).hexdigest(), hashlib.sha256(b).hexdigest())
            """, Path.Combine(TestPaths.Fixtures, "deepspeed", "refs", "init_fp32.pt"));
        return output.Trim().Split('\n').Select(l => l.Split(' ')).ToDictionary(p => p[0], p => (p[1], p[2]));
    }

    private static string Sha(byte[] b) => Convert.ToHexString(SHA256.HashData(b)).ToLowerInvariant();

    private static byte[] ReadPiece(SourceCatalog c, SourceTensor t)
    {
        SourcePiece p = t.Pieces.Single();
        using var f = new FileByteSource(Path.Combine(c.Root, p.File));
        byte[] bytes = new byte[p.Bytes.Length];
        f.ReadExactly(p.ByteOffset, bytes);
        return bytes;
    }

    [Test]
    public void The_bf16_fixture_holds_the_reference_weights_cast_to_bf16_by_torch()
    {
        var reference = TorchReference();
        SourceCatalog c = SafetensorsCheckpoint.Open(Hf("tiny-pad-bf16"));
        Assert.That(c.Tensors.Select(t => t.Name), Is.EquivalentTo(reference.Keys));
        Assert.That(SafetensorsCheckpoint.Load(Hf("tiny-pad-bf16")).ConfigPath, Is.EqualTo(Path.Combine(Hf("tiny-pad-bf16"), "config.json")));
        foreach (SourceTensor t in c.Tensors)
        {
            Assert.That(t.DType, Is.EqualTo(DType.BF16));
            Assert.That(t.Pieces.Single().File, Is.EqualTo("model.safetensors"));
            Assert.That(Sha(ReadPiece(c, t)), Is.EqualTo(reference[t.Name].Bf16), t.Name);
        }
    }

    [Test]
    public void The_sharded_fp32_fixture_holds_the_reference_weights_and_casts_to_the_bf16_fixture()
    {
        var reference = TorchReference();
        SourceCatalog c = SafetensorsCheckpoint.Open(Hf("tiny-pad-fp32-sharded"));
        SourceCatalog bf = SafetensorsCheckpoint.Open(Hf("tiny-pad-bf16"));
        Assert.That(c.Tensors.Select(t => t.Pieces.Single().File).Distinct(), Is.EqualTo(new[] { "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors" }));
        Assert.That(c.Tensors.Select(t => t.Name), Is.EquivalentTo(reference.Keys));
        foreach (SourceTensor t in c.Tensors)
        {
            byte[] f32 = ReadPiece(c, t);
            Assert.That(Sha(f32), Is.EqualTo(reference[t.Name].F32), t.Name);
            byte[] cast = new byte[f32.Length / 2];
            Cast.Convert(f32, DType.F32, cast, DType.BF16);
            Assert.That(cast, Is.EqualTo(ReadPiece(bf, bf[t.Name])), t.Name);
            Assert.That(t.Shape, Is.EqualTo(bf[t.Name].Shape));
        }
    }

    [Test]
    public void Catalog_order_is_by_shard_then_offset()
    {
        SafetensorsCheckpoint ck = SafetensorsCheckpoint.Load(Hf("tiny-pad-fp32-sharded"));
        var pieces = ck.ToCatalog().Tensors.Select(t => t.Pieces.Single()).ToList();
        var expected = pieces.OrderBy(p => p.File, StringComparer.Ordinal).ThenBy(p => p.ByteOffset).ToList();
        Assert.That(pieces, Is.EqualTo(expected));
        Assert.That(ck.Index!.TotalSize, Is.EqualTo(ck.TotalTensorBytes));
    }

    [Test]
    public void Any_byte_range_of_a_tensor_is_served_without_reading_the_rest()
    {
        string file = Path.Combine(Hf("tiny-pad-bf16"), "model.safetensors");
        using SafetensorsFile f = SafetensorsFile.Open(file);
        byte[] whole = f.ReadTensor("lm_head.weight");
        byte[] part = new byte[100];
        f.ReadTensorBytes("lm_head.weight", 1001, part);
        Assert.That(part, Is.EqualTo(whole[1001..1101]));
        Assert.That(() => f.ReadTensorBytes("lm_head.weight", whole.Length - 10, part), Throws.InstanceOf<ArgumentOutOfRangeException>());
        Assert.That(() => f.ReadTensorBytes("nope", 0, part), Throws.InstanceOf<KeyNotFoundException>());
    }

    [Test]
    public void A_single_safetensors_file_can_be_opened_directly()
    {
        SourceCatalog c = SafetensorsCheckpoint.Open(Path.Combine(Hf("tiny-pad-bf16"), "model.safetensors"));
        Assert.That(c.Root, Is.EqualTo(Hf("tiny-pad-bf16")));
        Assert.That(c.Contains("model.norm.weight"));
        SourceCatalog viaIndex = SafetensorsCheckpoint.Open(Path.Combine(Hf("tiny-pad-fp32-sharded"), "model.safetensors.index.json"));
        Assert.That(viaIndex.Tensors, Has.Count.EqualTo(21));
    }

    private static string ShardedCopy()
    {
        string dir = TestPaths.NewTempDir();
        WriteCheckpoint(dir, Small, maxShardBytes: 300); // 256 + 16 | 256 + 8 + 0 bytes: two shards
        Assert.That(File.Exists(Path.Combine(dir, "model.safetensors.index.json")));
        return dir;
    }

    private static CheckpointFormatException RejectsDir(string dir, string pathEndsWith, string message)
    {
        var e = Assert.Throws<CheckpointFormatException>(() => SafetensorsCheckpoint.Open(dir))!;
        Assert.That(e.Path, Does.EndWith(pathEndsWith));
        Assert.That(e.Message, Does.Contain(message));
        return e;
    }

    private static void EditIndex(string dir, Func<string, string> edit)
    {
        string index = Path.Combine(dir, "model.safetensors.index.json");
        File.WriteAllText(index, edit(File.ReadAllText(index)));
    }

    [Test]
    public void A_shard_named_by_the_index_but_missing_is_an_error_naming_the_index()
    {
        string dir = ShardedCopy();
        File.Delete(Path.Combine(dir, "model-00002-of-00002.safetensors"));
        RejectsDir(dir, "model.safetensors.index.json", "does not exist");
    }

    [Test]
    public void An_extra_shard_with_tensors_not_in_the_index_is_an_error_naming_it()
    {
        string dir = ShardedCopy();
        WriteCheckpoint(Path.Combine(dir, "sub"), [("stray", DType.F32, [2])]);
        File.Move(Path.Combine(dir, "sub", "model.safetensors"), Path.Combine(dir, "consolidated.safetensors"));
        RejectsDir(dir, "consolidated.safetensors", "does not name it");
    }

    [Test]
    public void A_tensor_in_two_shards_is_an_error()
    {
        string dir = ShardedCopy();
        // Replace shard 2 (lm_head, step, empty) by one that also holds "model.norm.weight" from shard 1.
        SafetensorsWriter.Write(new OutputLayout([SafetensorsLayout.ShardFile("model-00002-of-00002.safetensors",
            [.. Small[2..], ("model.norm.weight", DType.BF16, [8])], null)]), dir, Filler(Small));
        var e = RejectsDir(dir, "model.safetensors.index.json", "is in both");
        Assert.That(e.TensorName, Is.EqualTo("model.norm.weight"));
    }

    [Test]
    public void An_index_entry_pointing_at_the_wrong_shard_is_an_error()
    {
        string dir = ShardedCopy();
        EditIndex(dir, s => s.Replace("\"lm_head.weight\": \"model-00002-of-00002.safetensors\"", "\"lm_head.weight\": \"model-00001-of-00002.safetensors\""));
        RejectsDir(dir, "model.safetensors.index.json", "weight_map places the tensor in model-00001-of-00002.safetensors but it is in model-00002");
    }

    [Test]
    public void A_tensor_listed_in_the_index_but_absent_from_its_shard_is_an_error()
    {
        string dir = ShardedCopy();
        EditIndex(dir, s => s.Replace("\"weight_map\": {", "\"weight_map\": {\n    \"ghost\": \"model-00001-of-00002.safetensors\","));
        var e = RejectsDir(dir, "model.safetensors.index.json", "does not hold it");
        Assert.That(e.TensorName, Is.EqualTo("ghost"));
    }

    [Test]
    public void A_shard_tensor_missing_from_the_index_is_an_error()
    {
        string dir = ShardedCopy();
        EditIndex(dir, s => string.Join('\n', s.Split('\n').Where(l => !l.Contains("\"step\""))).Replace(",\n  }", "\n  }"));
        RejectsDir(dir, "model.safetensors.index.json", "does not list it");
    }

    [TestCase("../outside.safetensors", "'..'")]
    [TestCase("/etc/passwd", "relative path")]
    [TestCase("./model-00001-of-00002.safetensors", "'..', '.'")]
    public void Index_file_names_that_leave_the_directory_are_errors(string name, string message)
    {
        string dir = ShardedCopy();
        EditIndex(dir, s => s.Replace("\"lm_head.weight\": \"model-00002-of-00002.safetensors\"", $"\"lm_head.weight\": \"{name}\""));
        RejectsDir(dir, "model.safetensors.index.json", message);
    }

    [Test]
    public void A_shard_that_is_a_symlink_out_of_the_directory_is_an_error()
    {
        string dir = ShardedCopy();
        string elsewhere = TestPaths.NewTempDir("elsewhere");
        string shard = Path.Combine(dir, "model-00002-of-00002.safetensors");
        File.Move(shard, Path.Combine(elsewhere, "x.safetensors"));
        File.CreateSymbolicLink(shard, Path.Combine(elsewhere, "x.safetensors"));
        RejectsDir(dir, "model.safetensors.index.json", "outside the checkpoint directory");
    }

    [Test]
    public void The_hugging_face_hub_cache_layout_with_blob_symlinks_is_accepted()
    {
        string written = ShardedCopy();
        string repo = TestPaths.NewTempDir("models--org--tiny");
        string blobs = Directory.CreateDirectory(Path.Combine(repo, "blobs")).FullName;
        string snapshot = Directory.CreateDirectory(Path.Combine(repo, "snapshots", "abc123")).FullName;
        foreach (string f in Directory.GetFiles(written))
        {
            string blob = Path.Combine(blobs, Sha(File.ReadAllBytes(f)));
            File.Copy(f, blob, overwrite: true);
            File.CreateSymbolicLink(Path.Combine(snapshot, Path.GetFileName(f)), Path.Combine("..", "..", "blobs", Path.GetFileName(blob)));
        }
        Assert.That(SafetensorsCheckpoint.Open(snapshot).Tensors.Select(t => t.Name), Is.EqualTo(Small.Select(t => t.Name)));
    }

    [Test]
    public void Without_an_index_a_tensor_in_two_files_is_an_error()
    {
        string dir = TestPaths.NewTempDir();
        WriteCheckpoint(dir, Small);
        File.Copy(Path.Combine(dir, "model.safetensors"), Path.Combine(dir, "copy.safetensors"));
        RejectsDir(dir, "model.safetensors", "also in copy.safetensors");
    }

    [Test]
    public void Legacy_bin_shards_without_their_standard_names_are_reported_as_unsupported()
    {
        string dir = TestPaths.NewTempDir();
        File.WriteAllBytes(Path.Combine(dir, "pytorch_model-00001-of-00002.bin"), [0x50, 0x4B]);
        var e = Assert.Throws<UnsupportedCheckpointException>(() => SafetensorsCheckpoint.Open(dir))!;
        Assert.That(e.Message, Does.Contain("pytorch_model.bin.index.json"));
    }

    [Test]
    public void A_directory_without_any_checkpoint_is_a_format_error()
    {
        RejectsDir(TestPaths.NewTempDir(), "", "no model.safetensors");
    }

    [Test]
    public void A_malformed_index_is_an_error_naming_it()
    {
        string dir = ShardedCopy();
        EditIndex(dir, s => s.Replace("\"weight_map\"", "\"weight_mop\""));
        RejectsDir(dir, "model.safetensors.index.json", "no weight_map");
        EditIndex(dir, s => s[..^3]);
        RejectsDir(dir, "model.safetensors.index.json", "not valid JSON");
    }
}
