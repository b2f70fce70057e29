namespace Ckptmpi.Tests.Formats.MegaDs;

/// <summary>The Megatron-DeepSpeed fixtures in the repository.</summary>
public static class MegaDsFixtures
{
    /// <summary><c>tests/fixtures/megads</c>: tp2_pp2_dp2 (steps 0 and 1 with references), the tied run's step 0 and tp1_pp1_dp1's step 0.</summary>
    public static string Repo => Path.Combine(TestPaths.Fixtures, "megads");

    public static string HfDir(string root) => Path.Combine(root, "hf");

    public static string HfFp32(string root) => Path.Combine(root, "refs", "hf_fp32.pt");

    /// <summary>The independent check of an HF output against a fixture's truth (torch merges the references itself).</summary>
    public static string RefsScript => Path.Combine(TestPaths.RepoRoot, "tests", "Ckptmpi.Tests", "Formats", "MegaDs", "megads_refs.py");

    private static readonly Lazy<string?> TorchProblem = new(() =>
    {
        if (!File.Exists(TestPaths.Python)) return $"{TestPaths.Python} is not installed";
        var r = TestPaths.RunProcess(TestPaths.Python, ["-c", "import torch"], timeoutSeconds: 120);
        return r.ExitCode == 0 ? null : $"{TestPaths.Python} has no torch: {r.Stderr.Trim()}";
    });

    /// <summary>Ignores the test (with the reason) when Debian's python3 with torch is not there.</summary>
    public static void RequireTorch()
    {
        if (TorchProblem.Value is string why) Assert.Ignore($"needs python3 with torch to merge the references independently: {why}");
    }

    /// <summary>Runs <see cref="RefsScript"/>; returns its verdict line(s).</summary>
    public static string CheckWithTorch(string output, string fixtureDir, int step, string dtype, string root, string kind = "fp32") =>
        TestPaths.RunPython(File.ReadAllText(RefsScript), output, fixtureDir, step.ToString(System.Globalization.CultureInfo.InvariantCulture), dtype, HfFp32(root), kind).Trim();
}
