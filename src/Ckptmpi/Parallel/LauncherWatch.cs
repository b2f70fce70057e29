using Ckptmpi.Parallel.Native;

namespace Ckptmpi.Parallel;

/// <summary>
/// Stops a rank whose launcher is gone. When <c>mpirun</c> (or a node's daemon) is killed outright, Open MPI's
/// ranks are not: they are re-parented and run on, and would commit <c>latest</c> and a manifest for a job the
/// scheduler has already cancelled, perhaps while its requeued successor starts on the same output. A rank notices
/// that its parent process changed and asks to stop at the next safe point, as on SIGTERM (see
/// <see cref="Interruption"/>); the executor also checks once more before the commit markers are written.
/// </summary>
public static class LauncherWatch
{
    private static int s_started;

    public static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(500);

    /// <summary>Starts watching (once per process, Linux only, only for launched ranks).</summary>
    public static void Start()
    {
        if (!OperatingSystem.IsLinux() || Interlocked.Exchange(ref s_started, 1) != 0) return;
        int parent = Libc.getppid();
        new Thread(() =>
        {
            while (true)
            {
                Thread.Sleep(PollInterval);
                if (Libc.getppid() != parent)
                {
                    Interruption.Request("the exit of its launcher");
                    return;
                }
            }
        }) { IsBackground = true, Name = "launcher watch" }.Start();
    }
}
