using Ckptmpi.Formats.Meta;
using Ckptmpi.Tensors;

namespace Ckptmpi.Tests.Formats.Meta;

/// <summary>Broken Meta checkpoints through the real program: exit 3, a message naming the file and the reason, no output.</summary>
public sealed class MetaBadInputTests
{
    private string _dir = null!;

    [SetUp]
    public void SetUp() => _dir = TestPaths.NewTempDir();

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    private ProcessResult Convert(string input, params string[] extra)
    {
        string output = Path.Combine(_dir, "out");
        ProcessResult r = TestPaths.RunCkptmpi(["convert", "--from", "meta", "--to", "hf", "--input", input, "--output", output, .. extra]);
        Assert.That(File.Exists(Path.Combine(output, "ckptmpi-manifest.json")), Is.False, "no output that looks complete");
        Assert.That(File.Exists(Path.Combine(output, "model.safetensors")), Is.False);
        return r;
    }

    private string CopyOf(string fixture) => MetaFixtures.Copy(MetaFixtures.Dir(fixture), Path.Combine(_dir, "in"));

    [Test]
    public void A_missing_shard_is_named()
    {
        string input = CopyOf("l3_mp4_kvdup");
        File.Delete(Path.Combine(input, "consolidated.02.pth"));
        ProcessResult r = Convert(input);
        Assert.That(r.ExitCode, Is.EqualTo(3), r.ToString());
        Assert.That(r.Stderr + r.Stdout, Does.Contain("consolidated.02.pth").And.Contain("is missing").And.Contain("MP 4"));
    }

    [Test]
    public void An_extra_shard_is_named()
    {
        string input = CopyOf("l3_mp2");
        File.Copy(Path.Combine(input, "consolidated.01.pth"), Path.Combine(input, "consolidated.02.pth"));
        ProcessResult r = Convert(input);
        Assert.That(r.ExitCode, Is.EqualTo(3), r.ToString());
        Assert.That(r.Stderr + r.Stdout, Does.Contain("consolidated.02.pth").And.Contain("one shard too many").And.Contain("MP 2"));
    }

    [Test]
    public void Shards_that_do_not_concatenate_to_the_params_json_model_are_named()
    {
        // multiple_of 64 makes params.json's FFN 256 wide, but the shards hold 224 rows of w1.
        string input = CopyOf("l3_mp2");
        string p = Path.Combine(input, "params.json");
        File.WriteAllText(p, File.ReadAllText(p).Replace("\"multiple_of\": 32", "\"multiple_of\": 64"));
        ProcessResult r = Convert(input);
        Assert.That(r.ExitCode, Is.EqualTo(3), r.ToString());
        Assert.That(r.Stderr + r.Stdout, Does.Contain("consolidated.00.pth").And.Contain("layers.0.feed_forward.w1.weight").And.Contain("FFN 256"));
    }

    [Test]
    public void A_shard_of_the_wrong_shape_is_named()
    {
        // Shard 1 of another MP: l3_mp4_kvdup's second shard in place of l3_mp2's.
        string input = CopyOf("l3_mp2");
        File.Copy(Path.Combine(MetaFixtures.Dir("l3_mp4_kvdup"), "consolidated.01.pth"), Path.Combine(input, "consolidated.01.pth"), overwrite: true);
        ProcessResult r = Convert(input);
        Assert.That(r.ExitCode, Is.EqualTo(3), r.ToString());
        Assert.That(r.Stderr + r.Stdout, Does.Contain("consolidated.01.pth").And.Contain("shape"));
    }

    [TestCase(null, 1), TestCase(2, 0)]
    public void Duplicated_KV_heads_that_differ_name_the_tensor_and_both_files(int? kvHeads, int layer)
    {
        // Found by comparing layer 0, checked in every layer; with --meta-kv-heads, checked in layer 0 too.
        string input = CopyOf("l3_mp4_kvdup");
        string shard = Path.Combine(input, "consolidated.01.pth");
        string tensor = $"layers.{layer}.attention.wv.weight";
        ByteRange range = MetaFixtures.RangeOf(shard, tensor);
        using (var f = new FileStream(shard, FileMode.Open, FileAccess.ReadWrite))
        {
            f.Position = range.Start + 10;
            int b = f.ReadByte();
            f.Position = range.Start + 10;
            f.WriteByte((byte)(b ^ 0x40));
        }
        ProcessResult r = kvHeads is int kv ? Convert(input, "--meta-kv-heads", kv.ToString()) : Convert(input);
        Assert.That(r.ExitCode, Is.EqualTo(3), r.ToString());
        Assert.That(r.Stderr + r.Stdout, Does.Contain(tensor).And.Contain("consolidated.01.pth").And.Contain("consolidated.00.pth").And.Contain("differs"));
    }

    [Test]
    public void An_MP_size_that_does_not_divide_the_model_is_a_usage_error()
    {
        string output = Path.Combine(_dir, "out");
        ProcessResult r = TestPaths.RunCkptmpi(["convert", "--from", "hf", "--to", "meta", "--mp-size", "3", "--input", MetaFixtures.Dir(Path.Combine("hf", "l3")), "--output", output]);
        Assert.That(r.ExitCode, Is.EqualTo(2), r.ToString());
        Assert.That(r.Stderr + r.Stdout, Does.Contain("--mp-size 3").And.Contain("KV heads"));
        Assert.That(Directory.Exists(output) && Directory.EnumerateFiles(output).Any(), Is.False);
    }
}
