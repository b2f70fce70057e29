namespace Ckptmpi.Conversion.Journal;

/// <summary>
/// One line of a rank's journal: a piece (chunk) of an output file that this rank wrote completely, with the CRC-32
/// of each of its runs (the same runs the executor reports to rank 0). <see cref="Start"/> and <see cref="Length"/>
/// locate the piece in the file; a resumed run skips the piece only if the temporary file still yields these CRCs.
/// </summary>
public sealed record JournalEntry(string File, long Start, int Length, IReadOnlyList<JournalRun> Runs);
