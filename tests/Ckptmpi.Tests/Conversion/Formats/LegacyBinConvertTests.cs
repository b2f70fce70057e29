using Ckptmpi.Conversion;
using Ckptmpi.Conversion.Manifests;
using Ckptmpi.Conversion.Verify;
using Ckptmpi.Formats.Safetensors;
using Ckptmpi.Parallel;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Tests.Conversion.Formats;

/// <summary>
/// <c>convert --from hf</c> reads legacy <c>pytorch_model.bin</c> checkpoints that real torch wrote (one file, and
/// shards + <c>pytorch_model.bin.index.json</c>), and the values come out bit for bit.
/// </summary>
public sealed class LegacyBinConvertTests
{
    // Loads the safetensors fixture with torch (no safetensors package needed: header + frombuffer) and torch.saves
    // it as a legacy HF checkpoint, one file or two shards with the index.
    private const string SaveAsBin = """
        import sys, os, json, struct, shutil, torch
        src, dst, mode = sys.argv[1], sys.argv[2], sys.argv[3]
        raw = open(os.path.join(src, 'model.safetensors'), 'rb').read()
        n = struct.unpack('<Q', raw[:8])[0]; header = json.loads(raw[8:8 + n]); data = raw[8 + n:]
        dt = {'BF16': torch.bfloat16, 'F16': torch.float16, 'F32': torch.float32}
        sd = {}
        for k, v in header.items():
            if k == '__metadata__': continue
            a, b = v['data_offsets']
            sd[k] = torch.frombuffer(bytearray(data[a:b]), dtype=dt[v['dtype']]).reshape(v['shape']).clone()
        os.makedirs(dst, exist_ok=True)
        shutil.copy(os.path.join(src, 'config.json'), dst)
        if mode == 'single':
            torch.save(sd, os.path.join(dst, 'pytorch_model.bin'))
        else:
            keys = list(sd); half = len(keys) // 2
            names = ['pytorch_model-00001-of-00002.bin', 'pytorch_model-00002-of-00002.bin']
            torch.save({k: sd[k] for k in keys[:half]}, os.path.join(dst, names[0]))
            torch.save({k: sd[k] for k in keys[half:]}, os.path.join(dst, names[1]))
            wm = {k: names[0] if i < half else names[1] for i, k in enumerate(keys)}
            json.dump({'metadata': {'total_size': 0}, 'weight_map': wm}, open(os.path.join(dst, 'pytorch_model.bin.index.json'), 'w'))
        print(len(sd))
        """;

    private static string Fixture => Path.Combine(TestPaths.Fixtures, "hf", "tiny-pad-bf16");

    [TestCase("single", true)]
    [TestCase("sharded", false)]
    public void A_torch_saved_legacy_checkpoint_converts_to_safetensors_bit_exact(string mode, bool probe)
    {
        string dir = TestPaths.NewTempDir();
        try
        {
            string bin = Path.Combine(dir, "bin"), output = Path.Combine(dir, "hf");
            int count = int.Parse(TestPaths.RunPython(SaveAsBin, Fixture, bin, mode).Trim());
            // Without --from the probe must recognise the .bin checkpoint as hf.
            var request = new ConvertRequest { From = probe ? null : "hf", To = "hf", Input = bin, Output = output, MaxBuffer = 64 << 10 };
            ConversionJob.Outcome[] outcomes = ThreadCommunicator.Run(2, comm => ConversionJob.Run(comm, request), TimeSpan.FromSeconds(60));
            Assert.That(outcomes.Select(o => o.From), Is.All.EqualTo("hf"));

            SourceCatalog expected = SafetensorsCheckpoint.Open(Fixture), actual = SafetensorsCheckpoint.Open(output);
            Assert.That(actual.Tensors, Has.Count.EqualTo(count));
            Assert.That(actual.Tensors.Select(t => (t.Name, t.DType)), Is.EquivalentTo(expected.Tensors.Select(t => (t.Name, t.DType))));
            Assert.That(CatalogComparer.Compare(expected, actual), Is.Empty);
            Assert.That(Manifest.Read(output).Inputs.Select(i => Path.GetFileName(i.Path)), Has.Some.StartsWith("pytorch_model").And.Some.EqualTo("config.json"));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
