using System.Globalization;

namespace Ckptmpi.Conversion.Journal;

/// <summary>
/// Test hooks for the trust tests (kills, faults), read from the environment of the real program and documented here:
/// <list type="bullet">
/// <item><c>CKPTMPI_TEST_KILL_AFTER_PIECES=N</c>: rank <c>CKPTMPI_TEST_KILL_RANK</c> (default 0) SIGKILLs itself
/// when about to write its (N+1)-th piece, i.e. after journaling N pieces; with <c>CKPTMPI_TEST_KILL_UNJOURNALED=1</c>
/// it dies after writing that piece's bytes but before journaling them (a torn piece the resume must redo).</item>
/// <item><c>CKPTMPI_TEST_KILL_IN_COMMIT_AFTER_RENAMES=N</c>: rank 0 SIGKILLs itself in the commit, after renaming N
/// output files to their final names (a commit cut short, which --resume must undo and redo).</item>
/// <item><c>CKPTMPI_TEST_FAIL_WRITE_AFTER_BYTES=N</c>: rank <c>CKPTMPI_TEST_FAIL_RANK</c> (default 0) fails the write
/// that would take it past N bytes with the IOException a full filesystem gives (ENOSPC).</item>
/// </list>
/// In-process tests (ranks as threads) set <see cref="InProcess"/>: the "kill" throws <see cref="InjectedCrashException"/>
/// and the executor leaves the temporary files and journal behind, as a killed job does.
/// </summary>
public sealed record JournalFaults
{
    public int? KillAfterPieces { get; init; }
    public int KillRank { get; init; }
    public bool KillUnjournaled { get; init; }
    public int? KillInCommitAfterRenames { get; init; }
    public long? FailWriteAfterBytes { get; init; }
    public int FailRank { get; init; }
    public bool InProcess { get; init; }

    public static readonly JournalFaults None = new();

    public bool SimulatesCrash => InProcess && (KillAfterPieces is not null || KillInCommitAfterRenames is not null);

    public static JournalFaults FromEnvironment() => new()
    {
        KillAfterPieces = (int?)Number("CKPTMPI_TEST_KILL_AFTER_PIECES"),
        KillRank = (int)(Number("CKPTMPI_TEST_KILL_RANK") ?? 0),
        KillUnjournaled = Environment.GetEnvironmentVariable("CKPTMPI_TEST_KILL_UNJOURNALED") == "1",
        KillInCommitAfterRenames = (int?)Number("CKPTMPI_TEST_KILL_IN_COMMIT_AFTER_RENAMES"),
        FailWriteAfterBytes = Number("CKPTMPI_TEST_FAIL_WRITE_AFTER_BYTES"),
        FailRank = (int)(Number("CKPTMPI_TEST_FAIL_RANK") ?? 0),
    };

    private static long? Number(string name) =>
        Environment.GetEnvironmentVariable(name) is string s && long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out long v) ? v : null;
}
