using System.Collections;

namespace Ckptmpi.Parallel;

/// <summary>
/// What the launcher told this process through its environment (docs/mpi.md): which launcher, this
/// rank, the world size, and which MPI family it implies. Read before MPI is loaded, so that log lines carry the
/// rank from the first line, the library is chosen by evidence rather than by probing, and MPI's own size can be
/// checked against the launcher's (the wrong family gives N silent singletons).
/// </summary>
public sealed record LauncherEnvironment(string Launcher, int Rank, int? Size, MpiAbiFamily? Family)
{
    /// <summary>No launcher variables: one plain process.</summary>
    public static LauncherEnvironment None { get; } = new("none", 0, 1, null);

    public bool Launched => !ReferenceEquals(this, None) && Launcher != "none";

    /// <summary>Reads the current process environment.</summary>
    public static LauncherEnvironment FromProcess()
    {
        var env = new Dictionary<string, string>();
        foreach (DictionaryEntry e in Environment.GetEnvironmentVariables()) env[(string)e.Key] = (string?)e.Value ?? "";
        return Detect(env);
    }

    /// <summary>
    /// Detects the launcher in this order: Open MPI, Hydra/PMI, Cray PALS, PMIx, Slurm (only inside a step:
    /// SLURM_PROCID is also set in the batch script itself), Flux. Empty values count as unset.
    /// </summary>
    public static LauncherEnvironment Detect(IReadOnlyDictionary<string, string> env)
    {
        string? Get(string name) => env.TryGetValue(name, out string? v) && !string.IsNullOrWhiteSpace(v) ? v.Trim() : null;
        int? Int(string name) => Get(name) is { } v && int.TryParse(v, out int i) ? i : null;
        int? SlurmSize() => Int("SLURM_STEP_NUM_TASKS") ?? Int("SLURM_NTASKS");

        if (Int("OMPI_COMM_WORLD_RANK") is { } ompiRank)
            return new("Open MPI (mpiexec/mpirun)", ompiRank, Int("OMPI_COMM_WORLD_SIZE"), MpiAbiFamily.OpenMpi);
        if (Int("PMI_RANK") is { } pmiRank)
            return new(Get("PALS_RANKID") is null ? "Hydra/PMI (mpiexec.hydra, srun --mpi=pmi2)" : "Cray PALS (PMI)", pmiRank, Int("PMI_SIZE"), MpiAbiFamily.Mpich);
        if (Int("PALS_RANKID") is { } palsRank)
            return new("Cray PALS", palsRank, Int("PMI_SIZE"), MpiAbiFamily.Mpich);
        if (Int("PMIX_RANK") is { } pmixRank)
            return new("PMIx (prterun, srun --mpi=pmix)", pmixRank, Get("SLURM_STEP_ID") is null ? null : SlurmSize(), null);
        if (Get("SLURM_STEP_ID") is not null && Int("SLURM_PROCID") is { } slurmRank)
            return new("Slurm srun", slurmRank, SlurmSize(), null);
        if (Int("FLUX_TASK_RANK") is { } fluxRank)
            return new("Flux", fluxRank, Int("FLUX_JOB_SIZE"), null);
        return None;
    }

    public override string ToString() =>
        Launched ? $"{Launcher}: rank {Rank} of {(Size is { } s ? s.ToString() : "?")}" : "no launcher (one plain process)";
}
