namespace Ckptmpi.Parallel;

/// <summary>
/// A rank called <see cref="ICommunicator.Abort"/> on an in-process communicator: the whole world stops and
/// <see cref="ThreadCommunicator.Run(int, Action{ICommunicator}, TimeSpan?)"/> rethrows this.
/// (Under real MPI, Abort ends the processes instead and nothing is thrown.)
/// </summary>
public sealed class CommunicatorAbortedException(int rank, int exitCode, string reason)
    : Exception($"rank {rank} aborted the job with exit code {exitCode}: {reason}")
{
    public int Rank { get; } = rank;
    public int ExitCode { get; } = exitCode;
    public string Reason { get; } = reason;
}
