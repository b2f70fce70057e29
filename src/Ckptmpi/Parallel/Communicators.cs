using Serilog;

namespace Ckptmpi.Parallel;

/// <summary>
/// The run-mode decision (docs/mpi.md): one plain process unless a launcher started us, and libmpi
/// is never loaded for a plain process (an Open MPI singleton forks orted; a laptop may have no MPI at all).
/// </summary>
public static class Communicators
{
    /// <summary>Creates this process's communicator.</summary>
    /// <exception cref="MpiEnvironmentException">MPI is required but unusable (see the message for what to do).</exception>
    public static ICommunicator Create(MpiOptions options, LauncherEnvironment launcher, ILogger log)
    {
        switch (options.Mode)
        {
            case RunMode.Off:
                if (launcher.Launched && launcher.Size is > 1)
                    throw new MpiEnvironmentException($"CKPTMPI_MPI=off but this process was started as {launcher}: every rank would do the whole job alone. Unset CKPTMPI_MPI or run one process.");
                log.Debug("MPI off (CKPTMPI_MPI=off): one plain process");
                return new SelfCommunicator();
            case RunMode.Auto when !launcher.Launched:
                log.Debug("no launcher variables: one plain process, libmpi not loaded");
                return new SelfCommunicator();
        }

        try
        {
            return MpiCommunicator.Initialize(launcher, options, log);
        }
        catch (MpiEnvironmentException e) when (e.LibraryNotFound && options.Mode == RunMode.Auto && launcher.Size == 1 && options.Library is null)
        {
            // Launched as a single rank on a machine without libmpi: nothing to coordinate, so run plainly.
            log.Warning("{Launcher} started one rank but no libmpi could be loaded; running as one plain process", launcher.Launcher);
            return new SelfCommunicator();
        }
    }
}
