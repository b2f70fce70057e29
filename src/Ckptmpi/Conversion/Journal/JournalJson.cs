using System.Text.Json;
using System.Text.Json.Serialization;

namespace Ckptmpi.Conversion.Journal;

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
