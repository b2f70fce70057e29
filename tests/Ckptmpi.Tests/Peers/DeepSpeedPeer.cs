using System.Security.Cryptography;
using System.Text;

namespace Ckptmpi.Tests.Peers;

/// <summary>
/// DeepSpeed 0.14.4 itself, run on CPU by its harness (<c>peers/deepspeed-0.14.4</c> beside the checkout, see
/// docs/testing.md): the real consumer of the ZeRO checkpoints we write. The peer is optional; without it the tests
/// that need it are ignored (reported as skipped, never as passed).
/// </summary>
public static class DeepSpeedPeer
{
    public static string Root => Path.Combine(TestPaths.Peers, "deepspeed-0.14.4");

    private static string Harness => Path.Combine(Root, "harness");

    private static readonly Lazy<string> Source = new(PrepareSource);

    /// <summary>The DeepSpeed source tree to put in <c>DS_SRC</c> for scripts that import the harness themselves.</summary>
    public static string SourceTree => Source.Value;

    /// <summary>Ignores the calling test when the peer is not there.</summary>
    public static void RequirePresent()
    {
        if (!File.Exists(Path.Combine(Harness, "check_load.py")) || !Directory.Exists(Path.Combine(Root, "src", "deepspeed")))
            Assert.Ignore($"the DeepSpeed peer is absent ({Root}); the tests that load our output into DeepSpeed itself are skipped");
    }

    /// <summary>
    /// <c>check_load.py</c>: loads the checkpoint into a real DeepSpeed engine on <paramref name="world"/> ranks (gloo),
    /// compares module weights and fp32 masters with <paramref name="reference"/> exactly, and trains one step.
    /// </summary>
    public static ProcessResult CheckLoad(string checkpoint, int stage, int world, string dtype, string reference, string modelConfig, string dsConfig) =>
        Run("check_load.py", [checkpoint, "--stage", $"{stage}", "--world", $"{world}", "--dtype", dtype,
            "--ref", reference, "--model", modelConfig, "--ds-config", dsConfig]);

    /// <summary><c>check_fp32.py</c>: DeepSpeed's own <c>zero_to_fp32</c> on the checkpoint, every tensor equal to the reference.</summary>
    public static ProcessResult CheckFp32(string checkpoint, string reference) =>
        Run("check_fp32.py", [checkpoint, "--ref", reference]);

    /// <summary>
    /// <c>tests/peer/check_universal_load.py</c>: loads the universal checkpoint under <paramref name="saveRoot"/> into a
    /// real ZeRO-<paramref name="stage"/> engine on <paramref name="world"/> ranks, compares masters, moments and step
    /// with <paramref name="reference"/> exactly, and trains one step.
    /// </summary>
    public static ProcessResult CheckUniversalLoad(string saveRoot, int stage, int world, string dtype, string reference, string modelConfig, string dsConfig)
    {
        RequirePresent();
        return TestPaths.RunProcess(TestPaths.Python, [Path.Combine(TestPaths.RepoRoot, "tests", "peer", "check_universal_load.py"), Root, saveRoot,
            "--stage", $"{stage}", "--world", $"{world}", "--dtype", dtype, "--ref", reference, "--model", modelConfig, "--ds-config", dsConfig],
            new Dictionary<string, string?> { ["DS_SRC"] = Source.Value }, timeoutSeconds: 900);
    }

    private static ProcessResult Run(string script, string[] args)
    {
        RequirePresent();
        return TestPaths.RunProcess(TestPaths.Python, [Path.Combine(Harness, script), .. args],
            new Dictionary<string, string?> { ["DS_SRC"] = Source.Value }, timeoutSeconds: 900);
    }

    /// <summary>
    /// The DeepSpeed source the harness imports. DeepSpeed's tree holds relative symlinks (<c>deepspeed/accelerator</c>
    /// -> <c>../accelerator/</c>, <c>deepspeed/ops/op_builder</c>); a copy made without symlinks turns each into a small
    /// file holding the target, and then <c>import deepspeed.accelerator</c> fails. Such a tree is copied to a
    /// temporary folder with the links restored, named after the source's path and reused by later runs (a test host
    /// may be killed before any clean-up runs, so a fresh folder per run would pile up); an intact tree is used in place.
    /// </summary>
    private static string PrepareSource()
    {
        string src = Path.Combine(Root, "src");
        string[] lost = LostLinks(src).ToArray();
        if (lost.Length == 0) return src;
        string parent = Path.Combine(Path.GetTempPath(), "ckptmpi-tests");
        string key = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(src)))[..12].ToLowerInvariant();
        string final = Path.Combine(parent, "deepspeed-src-" + key);
        if (Directory.Exists(final)) return final;

        // Built under a private name and renamed, so a concurrent run sees either nothing or the whole tree.
        string building = final + "-" + Guid.NewGuid().ToString("N")[..8];
        foreach (string dir in Directory.GetDirectories(src, "*", SearchOption.AllDirectories))
            Directory.CreateDirectory(Path.Combine(building, Path.GetRelativePath(src, dir)));
        foreach (string file in Directory.GetFiles(src, "*", SearchOption.AllDirectories))
        {
            string to = Path.Combine(building, Path.GetRelativePath(src, file));
            if (lost.Contains(file)) File.CreateSymbolicLink(to, File.ReadAllText(file).Trim().TrimEnd('/'));
            else File.Copy(file, to);
        }
        try
        {
            Directory.Move(building, final);
        }
        catch (IOException) when (Directory.Exists(final))
        {
            Directory.Delete(building, recursive: true); // another run finished first
        }
        return final;
    }

    private static IEnumerable<string> LostLinks(string src)
    {
        foreach (string file in Directory.GetFiles(Path.Combine(src, "deepspeed"), "*", SearchOption.AllDirectories))
        {
            if (Path.GetExtension(file).Length > 0 || new FileInfo(file).Length > 256) continue;
            string target = File.ReadAllText(file).Trim();
            if (target.StartsWith("../", StringComparison.Ordinal) && !target.Contains('\n')) yield return file;
        }
    }
}
