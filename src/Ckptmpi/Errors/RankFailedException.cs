namespace Ckptmpi.Errors;

/// <summary>
/// Another rank (or this one) failed; thrown on every rank with the same message so that the whole job
/// exits non-zero with one clear reason.
/// </summary>
public class RankFailedException : Exception
{
    public RankFailedException(int rank, int exitCode, string message)
        : base(rank < 0 ? message : $"rank {rank} failed: {message}")
    {
        Rank = rank;
        ExitCode = exitCode;
        Reason = message;
    }

    /// <summary>The first rank that failed.</summary>
    public int Rank { get; }

    /// <summary>The exit code that rank chose; every rank exits with it.</summary>
    public int ExitCode { get; }

    public string Reason { get; }
}
