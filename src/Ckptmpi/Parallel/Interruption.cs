using System.Runtime.InteropServices;

namespace Ckptmpi.Parallel;

/// <summary>
/// A request to stop the job, from SIGTERM or SIGINT (what Slurm and PBS send on scancel/qdel or at the walltime,
/// and what Ctrl-C sends). The first signal is turned into this flag instead of killing the process, so that
/// long-running work stops at its next safe point (between two pieces of output) with a clear message and leaves
/// a state that <c>--resume</c> finishes; a second signal kills as usual. Work loops call
/// <see cref="ThrowIfRequested"/>; nothing else needs to know about signals.
/// </summary>
public static class Interruption
{
    private static string? s_signal;
    private static readonly List<PosixSignalRegistration> s_registrations = [];

    /// <summary>The name of the signal that asked us to stop, or null.</summary>
    public static string? Signal => Volatile.Read(ref s_signal);

    public static bool Requested => Signal is not null;

    /// <summary>Installs the handlers (once per process; the CLI does it before a job starts).</summary>
    public static void InstallSignalHandlers()
    {
        lock (s_registrations)
        {
            if (s_registrations.Count > 0) return;
            foreach (PosixSignal signal in (PosixSignal[])[PosixSignal.SIGTERM, PosixSignal.SIGINT])
            {
                s_registrations.Add(PosixSignalRegistration.Create(signal, context =>
                {
                    // The second signal is not cancelled: the process ends as the sender meant.
                    context.Cancel = Request(context.Signal == PosixSignal.SIGTERM ? "SIGTERM" : "SIGINT");
                }));
            }
        }
    }

    /// <summary>Records a stop request; true if it is the first.</summary>
    public static bool Request(string signal) => Interlocked.CompareExchange(ref s_signal, signal, null) is null;

    /// <exception cref="InterruptedException">a stop was requested.</exception>
    public static void ThrowIfRequested()
    {
        if (Signal is string s) throw new InterruptedException(s);
    }

    /// <summary>Forgets a request (in-process tests run many jobs in one process).</summary>
    public static void Reset() => Volatile.Write(ref s_signal, null);
}

/// <summary>The job was asked to stop by a signal; its exit code is the shell's 128 + signal number.</summary>
public sealed class InterruptedException(string signal)
    : Exception($"interrupted by {signal}: stopped at a safe point; the output is not complete. Rerun the same command with --resume to finish it")
{
    public string SignalName { get; } = signal;

    public int ExitCode => SignalName == "SIGINT" ? 130 : 143;
}
