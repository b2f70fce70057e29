using System.Globalization;
using System.Text;
using Ckptmpi.Tensors;

namespace Ckptmpi.Conversion.Planning;

/// <summary>What a plan will do, per rank and in total: printed by <c>--dry-run</c> and stored in the manifest.</summary>
public sealed record PlanSummary(
    string Hash,
    int Ranks,
    int Files,
    int SourceFiles,
    long ChunkBytes,
    long BytesRead,
    long BytesWritten,
    double Balance,
    IReadOnlyList<RankSummary> PerRank)
{
    internal static PlanSummary Of(Plan plan)
    {
        var perRank = plan.Ranks.Select(r => new RankSummary(r.Rank, r.FileCount, r.BytesRead, r.BytesWritten, r.PeakBuffer)
        {
            // A file written in another file's pass (a quantization's scales) follows that file.
            Writes = r.Items.SelectMany(i => i.Chunks.SelectMany(c => c.Companions).Select(c => plan.Files[c.File].RelativePath).Prepend(Describe(plan, i))).ToList(),
            Reads = r.Items.SelectMany(i => i.Chunks).SelectMany(c => c.Reads).Select(x => x.Source).Distinct().Order().Select(s => plan.Sources[s]).ToList(),
        }).ToList();
        // Commit markers are written by rank 0 at the end; count them there.
        if (plan.CommitItems.Count > 0)
        {
            RankSummary r0 = perRank[0];
            perRank[0] = r0 with
            {
                Files = r0.Files + plan.CommitItems.Count,
                BytesRead = r0.BytesRead + plan.CommitItems.Sum(i => i.BytesRead),
                BytesWritten = r0.BytesWritten + plan.CommitItems.Sum(i => i.Range.Length),
                PeakBuffer = Math.Max(r0.PeakBuffer, plan.CommitItems.Max(i => i.PeakBuffer)),
                Writes = [.. r0.Writes, .. plan.CommitItems.Select(i => Describe(plan, i) + " (last)")],
            };
        }
        long written = perRank.Sum(r => r.BytesWritten);
        double mean = (double)written / plan.RankCount;
        double balance = written == 0 ? 1.0 : perRank.Max(r => r.BytesWritten) / mean;
        return new PlanSummary(plan.Hash, plan.RankCount, plan.Files.Count, plan.Sources.Count, plan.ChunkBytes,
                               perRank.Sum(r => r.BytesRead), written, Math.Round(balance, 4), perRank);
    }

    /// <summary>
    /// Predicted wall time if every rank moves its bytes (read plus written) at <paramref name="bytesPerSecond"/>:
    /// the slowest rank decides.
    /// </summary>
    public double PredictedSeconds(double bytesPerSecond) =>
        PerRank.Count == 0 ? 0 : PerRank.Max(r => (r.BytesRead + r.BytesWritten) / bytesPerSecond);

    public string ToText(double? bytesPerSecond)
    {
        var sb = new StringBuilder();
        var ci = CultureInfo.InvariantCulture;
        sb.AppendLine(ci, $"plan {Hash[..16]}: {Files} output files from {SourceFiles} source files, {Ranks} rank(s), chunks of at most {Bytes(ChunkBytes)}");
        sb.AppendLine(ci, $"  read {Bytes(BytesRead)}, write {Bytes(BytesWritten)}, balance (max/mean written) {Balance:0.000}");
        if (bytesPerSecond is double bw) sb.AppendLine(ci, $"  predicted time at {Bytes((long)bw)}/s per rank: {PredictedSeconds(bw):0.0} s");
        int shown = 0;
        foreach (RankSummary r in PerRank)
        {
            if (shown++ == 16 && PerRank.Count > 17) { sb.AppendLine(ci, $"  ... {PerRank.Count - 16} more ranks"); break; }
            sb.AppendLine(ci, $"  rank {r.Rank,4}: {r.Files,5} files, read {Bytes(r.BytesRead),10}, write {Bytes(r.BytesWritten),10}, peak buffer {Bytes(r.PeakBuffer)}");
        }
        return sb.ToString();
    }

    internal static string Bytes(long n) => ByteSize.Format(n);

    /// <summary>"path" for a whole file, "path[a, b)" for a byte range of it.</summary>
    private static string Describe(Plan plan, WorkItem item)
    {
        var f = plan.Files[item.File];
        return item.Range.Start == 0 && item.Range.End == f.Length ? f.RelativePath : f.RelativePath + item.Range;
    }
}

/// <summary>One rank's share of a plan: counts, and which output files (or byte ranges) it writes and which source files it reads.</summary>
public sealed record RankSummary(int Rank, int Files, long BytesRead, long BytesWritten, long PeakBuffer)
{
    public IReadOnlyList<string> Writes { get; init; } = [];

    public IReadOnlyList<string> Reads { get; init; } = [];
}
