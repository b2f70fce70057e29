using Ckptmpi.Parallel;

namespace Ckptmpi.Tests.Parallel;

public sealed class LauncherEnvironmentTests
{
    private static LauncherEnvironment Detect(params (string Name, string Value)[] vars) =>
        LauncherEnvironment.Detect(vars.ToDictionary(v => v.Name, v => v.Value));

    [Test]
    public void No_launcher_variables_mean_one_plain_process()
    {
        LauncherEnvironment e = Detect(("HOME", "/root"));
        Assert.That((e.Launched, e.Rank, e.Size, e.Family), Is.EqualTo((false, 0, (int?)1, (MpiAbiFamily?)null)));
    }

    [Test]
    public void Open_MPI_variables_imply_the_Open_MPI_family()
    {
        LauncherEnvironment e = Detect(("OMPI_COMM_WORLD_RANK", "3"), ("OMPI_COMM_WORLD_SIZE", "8"), ("PMIX_RANK", "3"));
        Assert.That((e.Launched, e.Rank, e.Size, e.Family), Is.EqualTo((true, 3, (int?)8, (MpiAbiFamily?)MpiAbiFamily.OpenMpi)));
    }

    [Test]
    public void Hydra_PMI_variables_imply_the_MPICH_family()
    {
        LauncherEnvironment e = Detect(("PMI_RANK", "1"), ("PMI_SIZE", "4"));
        Assert.That((e.Rank, e.Size, e.Family), Is.EqualTo((1, (int?)4, (MpiAbiFamily?)MpiAbiFamily.Mpich)));
    }

    [Test]
    public void Cray_PALS_is_MPICH_family_and_takes_the_size_from_Cray_PMI()
    {
        LauncherEnvironment e = Detect(("PALS_RANKID", "47"), ("PMI_SIZE", "48"));
        Assert.That((e.Launcher, e.Rank, e.Size, e.Family), Is.EqualTo(("Cray PALS", 47, (int?)48, (MpiAbiFamily?)MpiAbiFamily.Mpich)));
    }

    [Test]
    public void Slurm_counts_only_inside_a_job_step()
    {
        Assert.That(Detect(("SLURM_PROCID", "0"), ("SLURM_NTASKS", "8")).Launched, Is.False, "the batch script itself has SLURM_PROCID");
        LauncherEnvironment step = Detect(("SLURM_PROCID", "5"), ("SLURM_NTASKS", "8"), ("SLURM_STEP_ID", "0"));
        Assert.That((step.Launched, step.Rank, step.Size, step.Family), Is.EqualTo((true, 5, (int?)8, (MpiAbiFamily?)null)));
    }

    [Test]
    public void PMIx_alone_is_ambiguous_and_takes_the_size_from_the_Slurm_step()
    {
        LauncherEnvironment e = Detect(("PMIX_RANK", "2"), ("SLURM_STEP_ID", "1"), ("SLURM_STEP_NUM_TASKS", "16"));
        Assert.That((e.Rank, e.Size, e.Family), Is.EqualTo((2, (int?)16, (MpiAbiFamily?)null)));
    }

    [Test]
    public void Flux_is_detected()
    {
        LauncherEnvironment e = Detect(("FLUX_TASK_RANK", "6"), ("FLUX_JOB_SIZE", "12"));
        Assert.That((e.Launcher, e.Rank, e.Size), Is.EqualTo(("Flux", 6, (int?)12)));
    }

    [Test]
    public void Empty_values_count_as_unset()
    {
        Assert.That(Detect(("OMPI_COMM_WORLD_RANK", ""), ("PMI_RANK", " ")).Launched, Is.False);
    }
}
