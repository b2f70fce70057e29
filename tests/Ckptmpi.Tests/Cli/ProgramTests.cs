using Ckptmpi.Tests.Parallel;

namespace Ckptmpi.Tests.Cli;

/// <summary>The real program's command line: help, version, global options and the usage exit code.</summary>
public sealed class ProgramTests
{
    [Test]
    public void Help_lists_the_commands_and_global_options_but_not_the_hidden_self_test()
    {
        ProcessResult r = TestPaths.RunCkptmpi(["--help"], timeoutSeconds: 60);
        Assert.That(r.ExitCode, Is.Zero, r.ToString());
        Assert.That(r.Stdout, Does.Contain("mpi-info").And.Contain("--verbose").And.Contain("--log-dir").And.Contain("--version"), r.ToString());
        Assert.That(r.Stdout, Does.Not.Contain("mpi-selftest"), r.ToString());
    }

    [Test]
    public void Version_prints_the_assembly_version()
    {
        ProcessResult r = TestPaths.RunCkptmpi(["--version"], timeoutSeconds: 60);
        Assert.That(r.ExitCode, Is.Zero, r.ToString());
        Assert.That(r.Stdout.Trim(), Does.StartWith("0.1.0"), r.ToString());
    }

    [TestCase("--no-such-option")]
    [TestCase("no-such-command")]
    [TestCase("mpi-info", "--probe-size", "12X")]
    public void A_command_line_that_does_not_parse_exits_with_the_usage_code(params string[] args)
    {
        ProcessResult r = TestPaths.RunCkptmpi(args, timeoutSeconds: 60);
        Assert.That(r.ExitCode, Is.EqualTo(2), r.ToString());
        Assert.That(r.Stderr, Is.Not.Empty, r.ToString());
    }

    [Test]
    public void A_usage_error_under_mpiexec_exits_2_on_every_rank_and_is_printed_once()
    {
        TimedResult r = MpiLaunch.Run(MpiLaunch.Mpich, 2, ["mpi-info", "--probe-size", "12X"]);
        Assert.That(r.ExitCode, Is.EqualTo(2), r.ToString());
        Assert.That(r.Stderr.Split("'12X' is not a size").Length - 1, Is.EqualTo(1), r.ToString());
    }
}
