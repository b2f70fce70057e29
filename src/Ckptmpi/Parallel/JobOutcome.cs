namespace Ckptmpi.Parallel;

/// <summary>How a rank's part of the job failed: the rank the failure started on, the exit code, and the message every rank reports.</summary>
public sealed record JobOutcome(int Rank, int ExitCode, string Message)
{
    public override string ToString() => $"rank {Rank} failed: {Message}";
}
