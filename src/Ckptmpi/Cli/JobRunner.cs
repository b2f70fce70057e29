using Ckptmpi.Errors;
using Ckptmpi.Parallel;
using Serilog;

namespace Ckptmpi.Cli;

/// <summary>
/// Runs one command's body on every rank: chooses the communicator for this run mode (one plain process unless a
/// launcher started us; MPI otherwise), sets up per-rank logging, runs the body, and turns failures into one exit
/// code that is the same on every rank:
/// <list type="bullet">
/// <item>a <see cref="RankFailedException"/> (from <see cref="CollectivePhase.RunPhase"/>: every rank already agreed)
/// is logged on every rank, MPI is finalized, and every rank exits with the failing rank's code;</item>
/// <item>any other exception escaped on this rank alone, so the other ranks may be blocked in a collective: the
/// error is logged and the job is ended with MPI_Abort(code) (a plain process just returns the code);</item>
/// <item>bodies that return a code agree on it: the lowest failing rank's non-zero code wins everywhere;</item>
/// <item>an exception on another thread (UnhandledException) aborts the job with <see cref="ExitCodes.Internal"/>
/// instead of a launcher-specific signal code (P8).</item>
/// </list>
/// MPI_Finalize runs on every normal path, because a rank that exits without it fails the whole job (P8).
/// </summary>
public static class JobRunner
{
    /// <summary>The global --verbose / --log-dir values; <see cref="Program"/> sets them before invoking a command.</summary>
    public static LoggingOptions Logging { get; set; } = LoggingOptions.Default;

    /// <summary>Runs <paramref name="body"/> as this process's rank of the job and returns the exit code.</summary>
    public static int Run(Func<ICommunicator, int> body)
    {
        LauncherEnvironment launcher = LauncherEnvironment.FromProcess();
        LoggingSetup.Configure(launcher.Rank, launcher.Size ?? 1, Logging, launcher.Launched);
        CollectivePhase.ExitCodeOf = ExitCodes.For;
        try
        {
            ICommunicator comm;
            try
            {
                comm = Communicators.Create(MpiOptions.FromEnvironment(), launcher, Log.Logger);
            }
            catch (ArgumentException e)
            {
                Log.Error("{Message}", e.Message);
                return ExitCodes.Usage;
            }
            catch (Exception e) when (e is MpiEnvironmentException or MpiException)
            {
                Log.Error("{Message}", e.Message);
                return ExitCodes.MpiEnvironment;
            }

            if (comm.Rank != launcher.Rank || comm.Size != (launcher.Size ?? 1))
                LoggingSetup.Configure(comm.Rank, comm.Size, Logging, launcher.Launched);

            UnhandledExceptionEventHandler onUnhandled = (_, e) =>
            {
                Log.Fatal(e.ExceptionObject as Exception, "unhandled exception on a background thread");
                if (comm.Size > 1) comm.Abort(ExitCodes.Internal, "unhandled exception");
            };
            AppDomain.CurrentDomain.UnhandledException += onUnhandled;
            try
            {
                return Run(comm, body);
            }
            finally
            {
                AppDomain.CurrentDomain.UnhandledException -= onUnhandled;
            }
        }
        finally
        {
            Log.CloseAndFlush();
        }
    }

    /// <summary>The runner over a given communicator (tests pass a <see cref="ThreadCommunicator"/> rank); disposes it.</summary>
    internal static int Run(ICommunicator comm, Func<ICommunicator, int> body)
    {
        int code;
        try
        {
            code = body(comm);
        }
        catch (RankFailedException e)
        {
            Log.Error("{Message}", e.Message);
            comm.Dispose();
            return e.ExitCode;
        }
        catch (Exception e)
        {
            code = ExitCodes.For(e);
            if (code == ExitCodes.Internal || Logging.Verbose) Log.Error(e, "rank {Rank} failed: {Message}", comm.Rank, e.Message);
            else Log.Error("rank {Rank} failed: {Message}", comm.Rank, e.Message);
            if (comm.Size > 1) comm.Abort(code, $"rank {comm.Rank} failed: {e.Message}");
            comm.Dispose();
            return code;
        }

        code = AgreeOnExitCode(comm, code);
        comm.Dispose();
        return code;
    }

    /// <summary>Every rank returns the code of the lowest rank whose body returned non-zero (or 0).</summary>
    internal static int AgreeOnExitCode(ICommunicator comm, int code)
    {
        if (comm.Size == 1) return code;
        long failing = comm.AllreduceMin(code != 0 ? comm.Rank : long.MaxValue);
        if (failing == long.MaxValue) return 0;
        return comm.BcastObject(code, (int)failing);
    }
}
