using Ckptmpi.Errors;

namespace Ckptmpi.Parallel;

/// <summary>
/// Collective failure agreement at phase boundaries (so no rank is left blocked in a collective). Wrap each phase that every rank runs
/// (read metadata, plan, execute, commit) in <see cref="RunPhase"/>: if any rank throws, every rank throws the
/// same <see cref="RankFailedException"/> naming the lowest failing rank, its message and its exit code, so the
/// job ends everywhere with one clear reason and can still finalize MPI cleanly.
/// </summary>
/// <example><code>
/// Plan plan = comm.RunPhase("plan", () => Planner.Build(catalog, comm.Size));
/// comm.AssertSameOnAllRanks(plan.Sha256, "conversion plan");
/// </code></example>
public static class CollectivePhase
{
    private static Func<Exception, int> s_exitCodeOf = _ => DefaultExitCode;

    /// <summary>Exit code used when no mapping is installed (EX_SOFTWARE, as the CLI's "internal error").</summary>
    public const int DefaultExitCode = 70;

    /// <summary>
    /// Maps the failing rank's exception to the exit code every rank will use. The CLI installs its
    /// <c>ExitCodes.For</c> here at start-up; library code does not set it.
    /// </summary>
    public static Func<Exception, int> ExitCodeOf
    {
        get => Volatile.Read(ref s_exitCodeOf);
        set => Volatile.Write(ref s_exitCodeOf, value ?? throw new ArgumentNullException(nameof(value)));
    }

    /// <summary>Runs <paramref name="phase"/> on this rank, then agrees with every rank on whether all succeeded.</summary>
    /// <exception cref="RankFailedException">Some rank (maybe this one) threw; thrown on every rank with the same message.</exception>
    public static void RunPhase(this ICommunicator comm, string name, Action phase) =>
        comm.RunPhase(name, () => { phase(); return true; });

    /// <summary>Runs <paramref name="phase"/> on this rank and returns its result once every rank has succeeded.</summary>
    /// <exception cref="RankFailedException">Some rank (maybe this one) threw; thrown on every rank with the same message.</exception>
    public static T RunPhase<T>(this ICommunicator comm, string name, Func<T> phase)
    {
        T result = default!;
        Exception? error = null;
        Timeline.RankTimeline? timeline = Timeline.RankTimeline.Current;
        double start = timeline?.Now ?? 0;
        try
        {
            result = phase();
        }
        catch (Exception e)
        {
            error = e;
        }

        double done = timeline?.Record(PhaseKind(name), start) ?? 0;
        long failingRank = comm.AllreduceMin(error is null ? long.MaxValue : comm.Rank);
        timeline?.Record(WaitKind, done); // the agreement returns when the slowest rank arrives
        if (failingRank == long.MaxValue) return result;

        int root = (int)failingRank;
        Failure? mine = null;
        if (comm.Rank == root)
        {
            mine = error is RankFailedException r
                ? new Failure(r.Rank, r.ExitCode, r.Reason)
                : new Failure(root, SafeExitCode(error!), $"{name}: {error!.Message}");
        }
        Failure agreed = comm.BcastObject(mine, root);
        throw new RankFailedException(agreed.Rank, agreed.ExitCode, agreed.Message);
    }

    /// <summary>Throws on every rank unless every rank passed the same <paramref name="value"/> (a hash of a plan, a file list ...).</summary>
    /// <exception cref="RankFailedException">Some rank disagrees with rank 0; names the first such rank and both values.</exception>
    public static void AssertSameOnAllRanks(this ICommunicator comm, string value, string what)
    {
        string[] all = comm.AllgatherObjects(value);
        for (int r = 1; r < all.Length; r++)
        {
            if (all[r] != all[0])
                throw new RankFailedException(r, DefaultExitCode, $"rank {r} computed a different {what} than rank 0 ({Shorten(all[r])} vs {Shorten(all[0])})");
        }
    }

    private static int SafeExitCode(Exception e)
    {
        try
        {
            int code = ExitCodeOf(e);
            return code == 0 ? DefaultExitCode : code;
        }
        catch (Exception)
        {
            return DefaultExitCode;
        }
    }

    /// <summary>The timeline kind of the time a rank waits for the others at the end of a phase.</summary>
    public const string WaitKind = "wait";

    /// <summary>The timeline kind of a phase: <c>phase:NAME</c>.</summary>
    public static string PhaseKind(string name) => "phase:" + name;

    private static string Shorten(string s) => s.Length <= 64 ? s : s[..61] + "...";

    /// <summary>What the failing rank tells the others.</summary>
    private sealed record Failure(int Rank, int ExitCode, string Message);
}
