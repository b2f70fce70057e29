namespace Ckptmpi.Tests.Conversion.Journal;

/// <summary>
/// Faults the in-process tests inject through <see cref="FaultInjectingHooks"/> (the real program has no such switch;
/// its end-to-end checks kill and starve real processes from outside):
/// <see cref="KillAfterPieces"/>: rank <see cref="KillRank"/> "dies" when about to write its (N+1)-th piece, or with
/// <see cref="KillUnjournaled"/> after writing that piece's bytes but before journaling them;
/// <see cref="KillInCommitAfterRenames"/>: rank 0 "dies" in the commit after renaming N files;
/// <see cref="FailWriteAfterBytes"/>: rank <see cref="FailRank"/> fails the write that would pass N bytes with the
/// IOException of a full filesystem.
/// </summary>
internal sealed record InjectedFaults
{
    public int? KillAfterPieces { get; init; }
    public int KillRank { get; init; }
    public bool KillUnjournaled { get; init; }
    public int? KillInCommitAfterRenames { get; init; }
    public long? FailWriteAfterBytes { get; init; }
    public int FailRank { get; init; }

    public bool SimulatesCrash => KillAfterPieces is not null || KillInCommitAfterRenames is not null;
}
