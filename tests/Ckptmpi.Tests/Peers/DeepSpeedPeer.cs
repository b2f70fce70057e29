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

    private static ProcessResult Run(string script, string[] args)
    {
        RequirePresent();
        return TestPaths.RunProcess(TestPaths.Python, [Path.Combine(Harness, script), .. args],
            new Dictionary<string, string?> { ["DS_SRC"] = Source.Value }, timeoutSeconds: 900);
    }

    /// <summary>
    /// The DeepSpeed source the harness imports. DeepSpeed's tree holds relative symlinks (<c>deepspeed/accelerator</c>
    /// -> <c>../accelerator/</c>, <c>deepspeed/ops/op_builder</c>); a copy made without symlinks turns each into a small
    /// file holding the target, and then <c>import deepspeed.accelerator</c> fails. Such a tree is copied once to a
    /// temporary folder with the links restored; an intact tree is used in place.
    /// </summary>
    private static string PrepareSource()
    {
        string src = Path.Combine(Root, "src");
        string[] lost = LostLinks(src).ToArray();
        if (lost.Length == 0) return src;
        string copy = Path.Combine(Path.GetTempPath(), "ckptmpi-tests", "deepspeed-src-" + Guid.NewGuid().ToString("N")[..8]);
        foreach (string dir in Directory.GetDirectories(src, "*", SearchOption.AllDirectories))
            Directory.CreateDirectory(Path.Combine(copy, Path.GetRelativePath(src, dir)));
        foreach (string file in Directory.GetFiles(src, "*", SearchOption.AllDirectories))
        {
            string to = Path.Combine(copy, Path.GetRelativePath(src, file));
            if (lost.Contains(file)) File.CreateSymbolicLink(to, File.ReadAllText(file).Trim().TrimEnd('/'));
            else File.Copy(file, to);
        }
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Directory.Delete(copy, recursive: true);
        return copy;
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
