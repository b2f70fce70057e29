using Ckptmpi.Formats.Meta;

namespace Ckptmpi.Tests.Formats.Meta;

/// <summary>Our Meta shards read back by real <c>torch.load</c> (Debian python3-torch) and compared with the shards Meta's code wrote.</summary>
public sealed class MetaTorchLoadTests
{
    // Loads every shard of ours and of the reference with torch (weights_only, as Meta's loaders do), checks the zip
    // CRCs, the key order, dtypes, shapes and bits, and that params.json gives Meta's FeedForward the width of w1.
    private const string Script = """
import sys, json, zipfile, torch
ours, ref, mp = sys.argv[1], sys.argv[2], int(sys.argv[3])
p = json.load(open(f"{ours}/params.json"))
hidden = int(2 * 4 * p["dim"] / 3)
if p.get("ffn_dim_multiplier") is not None: hidden = int(p["ffn_dim_multiplier"] * hidden)
ffn = p["multiple_of"] * ((hidden + p["multiple_of"] - 1) // p["multiple_of"])
checked = 0
for s in range(mp):
    f = f"{ours}/consolidated.{s:02d}.pth"
    assert zipfile.ZipFile(f).testzip() is None, f"CRC mismatch in {f}"
    a = torch.load(f, map_location="cpu", weights_only=True)
    r = torch.load(f"{ref}/consolidated.{s:02d}.pth", map_location="cpu", weights_only=True)
    assert list(a) == list(r), (f, list(a)[:4], list(r)[:4])
    for k in r:
        assert a[k].dtype == r[k].dtype and a[k].shape == r[k].shape, (f, k, a[k].dtype, a[k].shape, r[k].shape)
        assert torch.equal(a[k].view(torch.int16), r[k].view(torch.int16)), (f, k)
        checked += 1
    assert a["layers.0.feed_forward.w1.weight"].shape[0] * mp == ffn, (ffn, a["layers.0.feed_forward.w1.weight"].shape)
    assert a["layers.0.attention.wk.weight"].shape[0] * mp == p.get("n_kv_heads", p["n_heads"]) * p["dim"] // p["n_heads"]
print(checked)
""";

    [TestCase("l3", 4, "l3_mp4_kvdup")]
    [TestCase("l2", 4, "l2_mp4")]
    public void Torch_loads_our_shards_as_the_ones_Meta_wrote(string hf, int mp, string meta)
    {
        var probe = TestPaths.RunProcess(TestPaths.Python, ["-c", "import torch"]);
        if (probe.ExitCode != 0) Assert.Ignore($"{TestPaths.Python} has no torch: {probe.Stderr.Trim()}");
        string dir = TestPaths.NewTempDir();
        try
        {
            string output = Path.Combine(dir, "meta");
            MetaFixtures.Convert("hf", "meta", MetaFixtures.Dir(Path.Combine("hf", hf)), output, ranks: 2, new MetaOptions { MpSize = mp });
            string checkedCount = TestPaths.RunPython(Script, output, MetaFixtures.Dir(meta), mp.ToString()).Trim();
            Assert.That(int.Parse(checkedCount), Is.GreaterThan(20 * mp));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
