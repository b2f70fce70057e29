namespace Ckptmpi.Parallel;

/// <summary>
/// Progress of long phases, for people watching a job. Code in any layer that may take minutes (the executor,
/// a checksum pass) takes one of these and calls <see cref="BeginPhase"/>; the CLI decides how it is shown
/// (Cli/ProgressReporters.For: live bars on a terminal, periodic log lines otherwise, nothing on ranks other
/// than 0). Each rank reports its own share; rank 0's share stands for the job because work is balanced by bytes.
/// </summary>
public interface IProgressReporter
{
    /// <summary>Starts a phase of <paramref name="total"/> units (bytes unless said otherwise); dispose the phase when done.</summary>
    IProgressPhase BeginPhase(string name, long total);
}
