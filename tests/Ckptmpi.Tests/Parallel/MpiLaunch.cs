using System.Diagnostics;

namespace Ckptmpi.Tests.Parallel;

/// <summary>
/// Runs the real ckptmpi under a real launcher: <c>mpiexec.openmpi</c> (root and oversubscription allowed) or
/// <c>mpiexec.mpich</c> (Hydra). Every run has a timeout; a missing launcher makes the test inconclusive
/// (Assume), never a failure, because CI images without MPI must still run the rest of the suite.
/// </summary>
public static class MpiLaunch
{
    public const string OpenMpi = "openmpi";
    public const string Mpich = "mpich";

    /// <summary>The library of the other family, to provoke the wrong-library check.</summary>
    public static string OtherFamilyLibrary(string launcher) => launcher == OpenMpi ? "libmpich.so.12" : "libmpi.so.40";

    public static string Launcher(string family)
    {
        string path = $"/usr/bin/mpiexec.{family}";
        Assume.That(File.Exists(path), Is.True, $"{path} is not installed (apt-get install {(family == OpenMpi ? "openmpi-bin" : "mpich")}); MPI tests for {family} are skipped");
        return path;
    }

    /// <summary>Runs <c>launcher -n ranks dotnet ckptmpi.dll args</c> with <paramref name="env"/> forwarded to every rank.</summary>
    public static TimedResult Run(string family, int ranks, IEnumerable<string> args, IDictionary<string, string?>? env = null, int timeoutSeconds = 60)
    {
        string launcher = Launcher(family);
        var environment = new Dictionary<string, string?>
        {
            ["OMPI_ALLOW_RUN_AS_ROOT"] = "1",
            ["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1",
            ["OMPI_MCA_rmaps_base_oversubscribe"] = "1",
            ["TERM"] = "dumb",
        };
        if (env is not null) foreach (var (k, v) in env) environment[k] = v;

        var launcherArgs = new List<string>();
        if (family == OpenMpi)
        {
            launcherArgs.Add("--oversubscribe");
            // Open MPI forwards the environment to local ranks anyway; -x also covers remote ones.
            foreach (var (k, v) in env ?? new Dictionary<string, string?>()) if (v is not null) launcherArgs.AddRange(["-x", k]);
        }
        launcherArgs.AddRange(["-n", ranks.ToString(), "dotnet", TestPaths.CkptmpiDll, .. args]);
        var clock = Stopwatch.StartNew();
        ProcessResult r = TestPaths.RunProcess(launcher, launcherArgs, environment, timeoutSeconds);
        return new TimedResult(r.ExitCode, r.Stdout, r.Stderr, clock.Elapsed);
    }
}

public sealed record TimedResult(int ExitCode, string Stdout, string Stderr, TimeSpan Elapsed)
{
    public override string ToString() => $"exit {ExitCode} after {Elapsed.TotalSeconds:F1} s\n--- stdout\n{Stdout}\n--- stderr\n{Stderr}";
}
