namespace Ckptmpi.Parallel;

/// <summary>
/// A communicator on which the ranks can agree on how a job ended even when a failing rank may be out of step with
/// the others (they may be blocked in a collective the failing rank never reaches). The agreement uses its own
/// channel (for MPI, a duplicate of MPI_COMM_WORLD and a non-blocking Iallreduce), so it can never be matched with
/// a collective of the job itself.
/// </summary>
public interface IOutcomeAgreement
{
    /// <summary>
    /// Called once by every rank at the end of its work. A rank that succeeded passes null and waits as long as it
    /// takes; a rank that failed waits at most <paramref name="failedRankWait"/>.
    /// </summary>
    /// <param name="failure">This rank's failure, or null.</param>
    /// <param name="failedRankWait">How long a failing rank waits for the others to arrive.</param>
    /// <param name="agreed">The failure of the lowest failing rank, the same on every rank; null when all succeeded.</param>
    /// <returns>False when this (failing) rank gave up waiting: the others are out of step and the job must be aborted.</returns>
    bool TryAgreeOnOutcome(JobOutcome? failure, TimeSpan failedRankWait, out JobOutcome? agreed);
}
