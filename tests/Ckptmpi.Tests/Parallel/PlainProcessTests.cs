namespace Ckptmpi.Tests.Parallel;

/// <summary>Without launcher variables ckptmpi is one plain process and never maps libmpi (Open MPI would fork orted).</summary>
public sealed class PlainProcessTests
{
    private static readonly Dictionary<string, string?> NoLauncher = new()
    {
        ["OMPI_COMM_WORLD_RANK"] = null, ["OMPI_COMM_WORLD_SIZE"] = null, ["PMI_RANK"] = null, ["PMI_SIZE"] = null,
        ["PALS_RANKID"] = null, ["PMIX_RANK"] = null, ["SLURM_PROCID"] = null, ["SLURM_STEP_ID"] = null, ["FLUX_TASK_RANK"] = null,
        ["CKPTMPI_MPI"] = null, ["CKPTMPI_MPI_LIB"] = null,
    };

    [Test]
    public void A_plain_run_has_one_rank_and_never_maps_libmpi()
    {
        ProcessResult r = TestPaths.RunCkptmpi(["mpi-selftest"], NoLauncher, timeoutSeconds: 60);
        Assert.That(r.ExitCode, Is.Zero, r.ToString());
        Assert.That(r.Stdout, Does.Contain("world size: 1").And.Contain("implementation: single process").And.Contain("libmpi mapped: no"), r.ToString());
    }

    [Test]
    public void Slurm_batch_script_variables_alone_do_not_count_as_a_launcher()
    {
        var env = new Dictionary<string, string?>(NoLauncher) { ["SLURM_PROCID"] = "0", ["SLURM_NTASKS"] = "8" };
        ProcessResult r = TestPaths.RunCkptmpi(["mpi-selftest"], env, timeoutSeconds: 60);
        Assert.That(r.ExitCode, Is.Zero, r.ToString());
        Assert.That(r.Stdout, Does.Contain("libmpi mapped: no"), r.ToString());
    }

    [Test]
    public void An_unknown_CKPTMPI_MPI_value_is_a_usage_error()
    {
        var env = new Dictionary<string, string?>(NoLauncher) { ["CKPTMPI_MPI"] = "sometimes" };
        ProcessResult r = TestPaths.RunCkptmpi(["mpi-selftest"], env, timeoutSeconds: 60);
        Assert.That(r.ExitCode, Is.EqualTo(2), r.ToString());
        Assert.That(r.Stderr, Does.Contain("CKPTMPI_MPI=sometimes is not one of auto, on, off"), r.ToString());
    }

    [Test]
    public void Forcing_MPI_on_with_a_library_that_does_not_exist_exits_with_the_MPI_environment_code_and_says_what_to_do()
    {
        var env = new Dictionary<string, string?>(NoLauncher) { ["CKPTMPI_MPI"] = "on", ["CKPTMPI_MPI_LIB"] = "/nonexistent/libmpi.so.12" };
        ProcessResult r = TestPaths.RunCkptmpi(["mpi-info"], env, timeoutSeconds: 60);
        Assert.That(r.ExitCode, Is.EqualTo(4), r.ToString());
        Assert.That(r.Stderr, Does.Contain("could not load libmpi").And.Contain("/nonexistent/libmpi.so.12").And.Contain("check the CKPTMPI_MPI_LIB path"), r.ToString());
    }
}
