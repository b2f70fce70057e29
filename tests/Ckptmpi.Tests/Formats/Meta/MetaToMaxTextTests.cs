namespace Ckptmpi.Tests.Formats.Meta;

/// <summary>
/// Meta's layout straight into MaxText, through the real program: the MaxText writer sees the Meta reader's
/// canonical tensors (HF names, HF rotary order, K/V heads read once), so the tree equals the one written from the HF
/// model transformers makes of the same shards, file for file and byte for byte. The MaxText tests prove that tree
/// against MaxText's own converter.
/// </summary>
public sealed class MetaToMaxTextTests
{
    [TestCase("l3_mp2", "l3", "llama3.1-8b", new string[0])]
    [TestCase("l3_mp4_kvdup", "l3", "llama3.1-8b", new[] { "--quantize", "int8" })]
    public void Meta_to_maxtext_equals_hf_to_maxtext_of_transformers_conversion(string meta, string hf, string model, string[] extra)
    {
        string dir = TestPaths.NewTempDir();
        try
        {
            string fromMeta = Path.Combine(dir, "from-meta"), fromHf = Path.Combine(dir, "from-hf");
            ProcessResult a = TestPaths.RunCkptmpi(["convert", "--from", "meta", "--to", "maxtext", "--maxtext-model", model, "--input", MetaFixtures.Dir(meta), "--output", fromMeta, "--no-report", .. extra]);
            Assert.That(a.ExitCode, Is.EqualTo(0), a.Stderr + a.Stdout);
            ProcessResult b = TestPaths.RunCkptmpi(["convert", "--from", "hf", "--to", "maxtext", "--maxtext-model", model, "--input", MetaFixtures.Dir(Path.Combine("hf", hf)), "--output", fromHf, "--no-report", .. extra]);
            Assert.That(b.ExitCode, Is.EqualTo(0), b.Stderr + b.Stdout);
            string[] Files(string root) => Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories)
                .Select(f => Path.GetRelativePath(root, f)).Where(f => !f.StartsWith("ckptmpi", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToArray();
            string[] files = Files(fromMeta);
            Assert.That(files, Is.EqualTo(Files(fromHf)));
            Assert.That(files, Does.Contain("_METADATA"));
            foreach (string f in files)
                Assert.That(File.ReadAllBytes(Path.Combine(fromMeta, f)), Is.EqualTo(File.ReadAllBytes(Path.Combine(fromHf, f))), f);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
