using System.Text.Json;
using Ckptmpi.Tests.Parallel;

namespace Ckptmpi.Tests.Cli.Commands;

public sealed class MpiInfoCommandTests
{
    [Test]
    public void A_plain_run_reports_one_rank_without_MPI_and_skips_the_probe()
    {
        ProcessResult r = TestPaths.RunCkptmpi(["mpi-info"], new Dictionary<string, string?> { ["OMPI_COMM_WORLD_RANK"] = null, ["PMI_RANK"] = null }, timeoutSeconds: 60);
        Assert.That(r.ExitCode, Is.Zero, r.ToString());
        Assert.That(r.Stdout, Does.Contain("world size: 1").And.Contain("MPI: not loaded").And.Contain("bandwidth probe: skipped (one rank)"), r.ToString());
    }

    [TestCase(MpiLaunch.Mpich, "Mpich")]
    [TestCase(MpiLaunch.OpenMpi, "OpenMpi")]
    public void Json_under_mpiexec_names_the_library_every_host_and_the_probe_figures(string launcher, string abi)
    {
        TimedResult r = MpiLaunch.Run(launcher, 2, ["mpi-info", "--json", "--probe-size", "4MiB"]);
        Assert.That(r.ExitCode, Is.Zero, r.ToString());
        using JsonDocument doc = JsonDocument.Parse(r.Stdout);
        JsonElement root = doc.RootElement;
        Assert.That(root.GetProperty("abi").GetString(), Is.EqualTo(abi));
        Assert.That(root.GetProperty("worldSize").GetInt32(), Is.EqualTo(2));
        Assert.That(root.GetProperty("hosts").GetArrayLength(), Is.EqualTo(2));
        Assert.That(root.GetProperty("threadLevel").GetString(), Is.EqualTo("serialized"));
        Assert.That(File.Exists(root.GetProperty("library").GetString()), r.ToString());
        Assert.That(root.GetProperty("probe").GetProperty("bytes").GetInt64(), Is.EqualTo(4L << 20));
        Assert.That(root.GetProperty("probe").GetProperty("bcastGiBps").GetDouble(), Is.GreaterThan(0));
        Assert.That(root.GetProperty("probe").GetProperty("alltoallvGiBps").GetDouble(), Is.GreaterThan(0));
    }

    [TestCase("65536", 65536L)]
    [TestCase("64MiB", 64L << 20)]
    [TestCase("2G", 2L << 30)]
    [TestCase("0", 0L)]
    public void Probe_sizes_accept_binary_suffixes(string text, long bytes)
    {
        var command = Ckptmpi.Cli.Commands.MpiInfoCommand.Create();
        var parse = command.Parse(["--probe-size", text]);
        Assert.That(parse.Errors, Is.Empty);
        Assert.That(parse.GetValue<long>("--probe-size"), Is.EqualTo(bytes));
    }
}
