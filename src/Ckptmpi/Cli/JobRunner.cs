using Ckptmpi.Errors;
using Ckptmpi.Parallel;
using Serilog;

namespace Ckptmpi.Cli;

/// <summary>
/// Runs one command's body on every rank: chooses the communicator for this run mode (one plain process unless a
/// launcher started us; MPI otherwise), sets up per-rank logging, runs the body, and turns failures into one exit
/// code that is the same on every rank:
/// <list type="bullet">
/// <item>at the end every rank joins an agreement on a channel of its own (<see cref="IOutcomeAgreement"/>): if any
/// rank threw or returned non-zero, every rank logs the same "rank R failed: message" and exits with rank R's
/// code (R = the lowest failing rank), and MPI is finalized normally;</item>
/// <item>a failing rank waits at most <see cref="FailedRankWait"/> for the others: if they do not arrive (blocked in
/// a collective it never joined), it ends the job with MPI_Abort(its code);</item>
/// <item>a <see cref="RankFailedException"/> from <see cref="CollectivePhase.RunPhase"/> was already agreed by every
/// rank, so it passes through that agreement at once;</item>
/// <item>an <see cref="MpiException"/> aborts at once: MPI's state after an error is undefined;</item>
/// <item>an exception on another thread (UnhandledException) aborts the job with <see cref="ExitCodes.Internal"/>
/// instead of a launcher-specific signal code.</item>
/// </list>
/// MPI_Finalize runs on every normal path, because a rank that exits without it fails the whole job.
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
        Interruption.InstallSignalHandlers();
        try
        {
            ICommunicator comm;
            try
            {
                MpiOptions options = MpiOptions.FromEnvironment();
                FailedRankWait = options.FailedRankWait;
                comm = Communicators.Create(options, launcher, Log.Logger);
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

            if (launcher.Launched) LauncherWatch.Start();
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

    /// <summary>
    /// How long a failing rank waits for the others to reach the end-of-job agreement before it aborts the job
    /// (they may be blocked in a collective it will never join). CKPTMPI_FAILED_RANK_WAIT_SECONDS sets it per job.
    /// </summary>
    public static TimeSpan FailedRankWait { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The runner over a given communicator (tests pass a <see cref="ThreadCommunicator"/> rank); disposes it.</summary>
    internal static int Run(ICommunicator comm, Func<ICommunicator, int> body)
    {
        CollectivePhase.ExitCodeOf = ExitCodes.For;
        JobOutcome? failure = null;
        try
        {
            int code = body(comm);
            if (code != ExitCodes.Success) failure = new JobOutcome(comm.Rank, code, $"exited with code {code}");
        }
        catch (RankFailedException e)
        {
            // Already agreed by every rank in a phase; it still goes through the end-of-job agreement below.
            failure = new JobOutcome(e.Rank, e.ExitCode, e.Reason);
        }
        catch (Exception e)
        {
            int code = ExitCodes.For(e);
            if (code == ExitCodes.Internal || Logging.Verbose) Log.Error(e, "rank {Rank} failed: {Message}", comm.Rank, e.Message);
            else Log.Debug(e, "rank {Rank} failed", comm.Rank);
            failure = new JobOutcome(comm.Rank, code, e.Message);
            // After an MPI error the library's state is undefined: no agreement, abort.
            if (e is MpiException && comm.Size > 1) comm.Abort(code, failure.ToString());
        }

        JobOutcome? agreed = failure;
        if (comm.Size > 1)
        {
            if (comm is IOutcomeAgreement agreement)
            {
                bool inStep = false;
                try
                {
                    inStep = agreement.TryAgreeOnOutcome(failure, FailedRankWait, out agreed);
                }
                catch (MpiException e)
                {
                    comm.Abort(failure?.ExitCode ?? ExitCodes.MpiEnvironment, $"{failure?.ToString() ?? "the end-of-job agreement failed"}; {e.Message}");
                }
                if (!inStep)
                    comm.Abort(failure!.ExitCode, $"{failure} (the other ranks did not reach the end of the job within {FailedRankWait.TotalSeconds:F0} s)");
            }
            else
            {
                agreed = AgreeInStep(comm, failure);
            }
        }

        if (agreed is not null)
        {
            if (comm.Size == 1) Log.Error("{Message} (exit code {ExitCode})", agreed.Message, agreed.ExitCode);
            else Log.Error("{Outcome} (exit code {ExitCode})", agreed.ToString(), agreed.ExitCode);
        }
        comm.Dispose();
        return agreed?.ExitCode ?? ExitCodes.Success;
    }

    /// <summary>For communicators without an agreement channel: a failure escaped on this rank alone may leave the others blocked, so abort; else agree in step.</summary>
    private static JobOutcome? AgreeInStep(ICommunicator comm, JobOutcome? failure)
    {
        if (failure is not null && failure.Rank == comm.Rank) comm.Abort(failure.ExitCode, failure.ToString());
        long failing = comm.AllreduceMin(failure is null ? long.MaxValue : comm.Rank);
        return failing == long.MaxValue ? null : comm.BcastObject(failure, (int)failing);
    }
}
