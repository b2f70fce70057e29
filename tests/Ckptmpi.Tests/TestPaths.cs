using System.Diagnostics;

namespace Ckptmpi.Tests;

/// <summary>Where things are for tests: the repo, its fixtures, the optional peer tools, the built ckptmpi, Debian's python3 with torch.</summary>
public static class TestPaths
{
    public static string RepoRoot => ArchitectureTests.RepoRoot();

    /// <summary>Files written by the real tools (DeepSpeed, safetensors, model configs), kept in the repository: <c>tests/fixtures</c>.</summary>
    public static string Fixtures => Path.Combine(RepoRoot, "tests", "fixtures");

    /// <summary>
    /// The optional peer tools (the real programs that consume our output), <c>../shared/peers</c> beside the checkout
    /// or <c>CKPTMPI_PEERS</c>; tests that need one are ignored, not passed, when it is absent.
    /// </summary>
    public static string Peers => Environment.GetEnvironmentVariable("CKPTMPI_PEERS") is { Length: > 0 } p
        ? Path.GetFullPath(p)
        : Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared", "peers"));

    /// <summary>Debian's python3, which has python3-torch (the pyenv python on PATH does not).</summary>
    public const string Python = "/usr/bin/python3";

    /// <summary>A fresh empty directory under the test's work directory, deleted by the caller or left for post-mortem.</summary>
    public static string NewTempDir(string? hint = null)
    {
        string dir = Path.Combine(Path.GetTempPath(), "ckptmpi-tests", (hint ?? TestContext.CurrentContext.Test.Name).Replace('/', '_').Replace('"', '_') + "-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        return dir;
    }

    /// <summary>Runs a Python script with Debian's python3 (torch available); returns stdout, throws with stderr on failure.</summary>
    public static string RunPython(string script, params string[] args)
    {
        string file = Path.Combine(Path.GetTempPath(), $"ckptmpi-py-{Guid.NewGuid():N}.py");
        File.WriteAllText(file, script);
        try
        {
            var r = RunProcess(Python, [file, .. args], timeoutSeconds: 300);
            if (r.ExitCode != 0) throw new InvalidOperationException($"python failed ({r.ExitCode}):\n{r.Stderr}\n{r.Stdout}");
            return r.Stdout;
        }
        finally { File.Delete(file); }
    }

    /// <summary>The ckptmpi assembly built next to the tests (same configuration).</summary>
    public static string CkptmpiDll => Path.Combine(TestContext.CurrentContext.TestDirectory, "ckptmpi.dll");

    /// <summary>Runs the real ckptmpi program as a plain process.</summary>
    public static ProcessResult RunCkptmpi(IEnumerable<string> args, IDictionary<string, string?>? env = null, int timeoutSeconds = 300) =>
        RunProcess("dotnet", [CkptmpiDll, .. args], env, timeoutSeconds);

    public static ProcessResult RunProcess(string file, IEnumerable<string> args, IDictionary<string, string?>? env = null, int timeoutSeconds = 300)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in args) psi.ArgumentList.Add(a);
        psi.Environment["TERM"] = "dumb";
        if (env is not null)
        {
            foreach (var (k, v) in env)
            {
                if (v is null) psi.Environment.Remove(k); else psi.Environment[k] = v;
            }
        }
        using var p = Process.Start(psi)!;
        Task<string> stdout = p.StandardOutput.ReadToEndAsync();
        Task<string> stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeoutSeconds * 1000))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', psi.ArgumentList)} did not finish in {timeoutSeconds} s");
        }
        return new ProcessResult(p.ExitCode, stdout.Result, stderr.Result);
    }
}

public sealed record ProcessResult(int ExitCode, string Stdout, string Stderr)
{
    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Stdout}\n--- stderr\n{Stderr}";
}
