using Ckptmpi.Parallel;

namespace Ckptmpi.Cli;

/// <summary>
/// Chooses how progress is shown for this rank: live Spectre.Console bars when rank 0's stderr is a terminal of a
/// plain (not launched) process, periodic log lines on rank 0 otherwise (batch jobs, mpiexec), nothing on other
/// ranks. Commands pass the result (an <see cref="IProgressReporter"/> from Parallel) to the code that does the work.
/// </summary>
public static class ProgressReporters
{
    /// <summary>How often plain progress lines are written at most.</summary>
    public static readonly TimeSpan LineInterval = TimeSpan.FromSeconds(10);

    public static IProgressReporter For(ICommunicator comm)
    {
        if (comm.Rank != 0) return NullProgressReporter.Instance;
        bool terminal = !Console.IsErrorRedirected && comm.Size == 1 && !LauncherEnvironment.FromProcess().Launched
                        && Environment.GetEnvironmentVariable("TERM") is not (null or "" or "dumb");
        return terminal ? new ProgressBars() : new ProgressLines(Serilog.Log.Logger, LineInterval);
    }
}
