using System.Text.Json;
using System.Text.Json.Serialization;

namespace Ckptmpi.Conversion.Journal;

/// <summary><c>plan.json</c>: which plan the journal belongs to (a rerun with another plan must not reuse it).</summary>
public sealed record JournalPlan(string PlanHash, int Ranks, int Files, IReadOnlyList<string> CommandLine);

/// <summary>
/// One line of a rank's journal: a piece (chunk) of an output file that this rank wrote completely, with the CRC-32
/// of each of its runs (the same runs the executor reports to rank 0). <see cref="Start"/> and <see cref="Length"/>
/// locate the piece in the file; a resumed run skips the piece only if the temporary file still yields these CRCs.
/// </summary>
public sealed record JournalEntry(string File, long Start, int Length, IReadOnlyList<JournalRun> Runs);

/// <summary>The CRC-32 (hex) of output bytes <c>[Offset, Offset + Length)</c>; <see cref="Field"/> as in the plan's CRC runs.</summary>
public sealed record JournalRun(long Offset, int Length, int Field, string Crc);

/// <summary>The journal's JSON dialect (one compact object per line) and its tolerant line reader.</summary>
internal static class JournalJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        WriteIndented = false,
    };

    /// <summary>
    /// The entries of a rank's journal, later lines winning. A line that does not parse is the torn last line of a
    /// killed rank (lines are appended and synced one at a time) and is skipped: its piece is simply redone.
    /// </summary>
    public static Dictionary<(string File, long Start), JournalEntry> ReadEntries(string path)
    {
        var entries = new Dictionary<(string, long), JournalEntry>();
        foreach (string line in File.ReadLines(path))
        {
            if (!line.StartsWith("{\"file\"", StringComparison.Ordinal)) continue;
            JournalEntry? e;
            try { e = JsonSerializer.Deserialize<JournalEntry>(line, Options); }
            catch (JsonException) { continue; }
            if (e?.File is null || e.Runs is null) continue;
            entries[(e.File, e.Start)] = e;
        }
        return entries;
    }
}
