using Ckptmpi.Cli;
using Ckptmpi.Tests.Parallel;

namespace Ckptmpi.Tests.Cli;

/// <summary>Per-rank log prefixes, levels by rank, --log-dir files and no terminal escapes in job output.</summary>
public sealed class LoggingSetupTests
{
    [Test]
    public void A_plain_run_writes_its_log_file_with_the_rank_prefix_and_no_escape_codes()
    {
        string dir = TestPaths.NewTempDir();
        ProcessResult r = TestPaths.RunCkptmpi(["mpi-info", "--verbose", "--log-dir", dir], timeoutSeconds: 60);
        Assert.That(r.ExitCode, Is.Zero, r.ToString());
        string file = LoggingSetup.LogFile(dir, 0);
        Assert.That(File.Exists(file), file);
        Assert.That(File.ReadAllText(file), Does.Contain($"[r0/1@{LoggingSetup.ShortHostName()}]"));
        Assert.That(r.Stderr + r.Stdout, Does.Not.Contain("\u001b"), r.ToString());
    }

    [Test]
    public void Under_mpiexec_rank_0_logs_information_other_ranks_only_warnings_and_each_rank_gets_a_file()
    {
        string dir = TestPaths.NewTempDir();
        TimedResult r = MpiLaunch.Run(MpiLaunch.OpenMpi, 2, ["mpi-info", "--probe-size", "0", "--log-dir", dir],
            new Dictionary<string, string?> { ["TERM"] = "xterm-256color" });
        Assert.That(r.ExitCode, Is.Zero, r.ToString());
        Assert.That(r.Stderr, Does.Contain("[r0/2@").And.Contain("INF MPI: Open MPI"), r.ToString());
        Assert.That(r.Stderr, Does.Not.Contain("[r1/2@"), r.ToString());
        Assert.That(File.ReadAllText(LoggingSetup.LogFile(dir, 1)), Does.Contain("[r1/2@"));
        // Open MPI gives ranks a pty; with a real TERM .NET would write ESC[?1h ESC= into the job output.
        Assert.That(r.Stdout + r.Stderr, Does.Not.Contain("\u001b"), r.ToString());
    }

    [Test]
    public void Verbose_shows_debug_lines_from_every_rank()
    {
        TimedResult r = MpiLaunch.Run(MpiLaunch.Mpich, 2, ["mpi-info", "--probe-size", "0", "--verbose"]);
        Assert.That(r.ExitCode, Is.Zero, r.ToString());
        Assert.That(r.Stderr, Does.Contain("[r1/2@").And.Contain(" DBG "), r.ToString());
    }
}
