using System.Security.Cryptography;
using Ckptmpi.Errors;
using Ckptmpi.Formats.Safetensors;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Tests.Formats.Safetensors;

public sealed class PytorchBinCheckpointTests
{
    // torch.save writes the legacy HF layout; each tensor's sha256 (of its contiguous bytes) is printed for comparison.
    private const string MakeCheckpoint = """
        import sys, os, json, hashlib, torch
        d, mode = sys.argv[1], sys.argv[2]
        g = torch.Generator().manual_seed(3)
        emb = torch.randn(16, 8, generator=g).to(torch.bfloat16)
        sd = {'model.embed_tokens.weight': emb, 'lm_head.weight': emb,  # tied: one storage
              'model.norm.weight': torch.randn(8, generator=g), 'inv_freq': torch.arange(4, dtype=torch.float16),
              'q.weight': torch.randn(6, 8, generator=g, dtype=torch.float64)[2:5]}  # a view at a storage offset
        if mode == 'strided': sd['t'] = torch.randn(4, 3, generator=g).t()
        if mode == 'sharded':
            a = {k: sd[k] for k in list(sd)[:2]}; b = {k: sd[k] for k in list(sd)[2:]}
            torch.save(a, os.path.join(d, 'pytorch_model-00001-of-00002.bin'))
            torch.save(b, os.path.join(d, 'pytorch_model-00002-of-00002.bin'))
            wm = {k: 'pytorch_model-00001-of-00002.bin' for k in a}; wm.update({k: 'pytorch_model-00002-of-00002.bin' for k in b})
            json.dump({'metadata': {'total_size': 0}, 'weight_map': wm}, open(os.path.join(d, 'pytorch_model.bin.index.json'), 'w'))
        else:
            torch.save(sd, os.path.join(d, 'pytorch_model.bin'))
        for k, v in sd.items():
            print(k, str(v.dtype).split('.')[1], ','.join(map(str, v.shape)), hashlib.sha256(v.contiguous().view(torch.uint8).numpy().tobytes()).hexdigest())
        """;

    private static (string Dir, Dictionary<string, string[]> Expected) Make(string mode)
    {
        string dir = TestPaths.NewTempDir();
        string output = TestPaths.RunPython(MakeCheckpoint, dir, mode);
        return (dir, output.Trim().Split('\n').Select(l => l.Split(' ')).ToDictionary(p => p[0], p => p[1..]));
    }

    private static void AssertMatchesTorch(SourceCatalog c, Dictionary<string, string[]> expected)
    {
        Assert.That(c.Tensors.Select(t => t.Name), Is.EquivalentTo(expected.Keys));
        foreach (SourceTensor t in c.Tensors)
        {
            SourcePiece p = t.Pieces.Single();
            using var f = new FileByteSource(Path.Combine(c.Root, p.File));
            byte[] bytes = new byte[p.Bytes.Length];
            f.ReadExactly(p.ByteOffset, bytes);
            string[] e = expected[t.Name];
            Assert.That(t.DType.TorchName(), Is.EqualTo(e[0]), t.Name);
            Assert.That(string.Join(",", t.Shape), Is.EqualTo(e[1]), t.Name);
            Assert.That(Convert.ToHexString(SHA256.HashData(bytes)).ToLowerInvariant(), Is.EqualTo(e[2]), t.Name);
        }
    }

    [Test]
    public void A_single_pytorch_model_bin_is_read_into_the_tensors_torch_saved_including_tied_and_offset_views()
    {
        (string dir, var expected) = Make("single");
        SourceCatalog c = SafetensorsCheckpoint.Open(dir);
        AssertMatchesTorch(c, expected);
        Assert.That(c["lm_head.weight"].Pieces[0].ByteOffset, Is.EqualTo(c["model.embed_tokens.weight"].Pieces[0].ByteOffset));
        Assert.That(c.Tensors.SelectMany(t => t.Pieces).Select(p => p.File).Distinct(), Is.EqualTo(new[] { "pytorch_model.bin" }));
    }

    [Test]
    public void Sharded_bin_files_with_their_index_are_read_and_checked_against_it()
    {
        (string dir, var expected) = Make("sharded");
        AssertMatchesTorch(SafetensorsCheckpoint.Open(dir), expected);

        string index = Path.Combine(dir, "pytorch_model.bin.index.json");
        File.WriteAllText(index, File.ReadAllText(index).Replace("\"inv_freq\": \"pytorch_model-00002-of-00002.bin\"", "\"inv_freq\": \"pytorch_model-00001-of-00002.bin\""));
        var e = Assert.Throws<CheckpointFormatException>(() => SafetensorsCheckpoint.Open(dir))!;
        Assert.That(e.Path, Is.EqualTo(index));
        Assert.That(e.TensorName, Is.EqualTo("inv_freq"));
    }

    [Test]
    public void A_non_contiguous_tensor_is_reported_as_unsupported_naming_it()
    {
        (string dir, _) = Make("strided");
        var e = Assert.Throws<UnsupportedCheckpointException>(() => SafetensorsCheckpoint.Open(dir))!;
        Assert.That(e.Message, Does.Contain("'t'").And.Contain("not contiguous"));
    }
}
