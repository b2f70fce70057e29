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
                    string name = context.Signal == PosixSignal.SIGTERM ? "SIGTERM" : "SIGINT";
                    context.Cancel = Request(name);
                    if (context.Cancel) StartGraceTimer(name);
                }));
            }
        }
    }

    /// <summary>
    /// How long a stop may take before the process ends anyway. A rank blocked in a collective whose peer is gone never
    /// reaches a safe point; batch systems follow SIGTERM with SIGKILL after about 10 s (PBS kill_delay) to 30 s
    /// (Slurm KillWait), so stop on our own well before: the journal keeps what was done either way.
    /// </summary>
    public static readonly TimeSpan Grace = TimeSpan.FromSeconds(8);

    private static void StartGraceTimer(string signal) =>
        new Thread(() =>
        {
            Thread.Sleep(Grace);
            Console.Error.WriteLine($"ckptmpi: {signal}: no safe point reached within {Grace.TotalSeconds:0} s; exiting now (--resume finishes the job)");
            Environment.Exit(signal == "SIGINT" ? 130 : 143);
        }) { IsBackground = true, Name = "interruption grace" }.Start();

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

    /// <summary>SIGINT's 130, else SIGTERM's 143 (a vanished launcher ends the job as a SIGTERM would).</summary>
    public int ExitCode => SignalName == "SIGINT" ? 130 : 143;
}
