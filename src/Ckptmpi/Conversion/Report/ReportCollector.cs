using System.Diagnostics;
using System.Text.Json;
using Ckptmpi.Conversion.Planning;
using Ckptmpi.Parallel;
using Ckptmpi.Parallel.Timeline;

namespace Ckptmpi.Conversion.Report;

/// <summary>
/// Builds the run report at the end of a job: every rank describes itself (host, share, peak memory, timeline) and
/// one gather brings the descriptions to rank 0, which writes the report. This is the only communication the report
/// costs; during the job the timeline only records locally.
/// </summary>
public static class ReportCollector
{
    /// <summary>Everything but the per-rank parts, known to every rank.</summary>
    public sealed record JobFacts(IReadOnlyList<string> CommandLine, string From, string To, string Input, string Output, string Io, long MaxBuffer,
                                  PlanSummary Plan, double PlanSeconds, long InputBytes, long OutputBytes, int OutputFiles, string Mpi, string? Striping);

    /// <summary>Collective: gathers the ranks' parts; on rank 0 returns the report, elsewhere null.</summary>
    public static RunReport? Collect(ICommunicator comm, RankTimeline timeline, JobFacts job, double wallSeconds)
    {
        RankSummary share = job.Plan.PerRank[comm.Rank];
        IReadOnlyDictionary<string, IReadOnlyList<TimelineSpan>> spans = timeline.Snapshot();
        double writeSeconds = spans.TryGetValue(CollectivePhase.PhaseKind("write"), out var w) ? w.Sum(s => s.End - s.Start) : 0;
        var mine = new RankReport(comm.Rank, Environment.MachineName, share.BytesRead, share.BytesWritten, writeSeconds, PeakRss(), spans);
        byte[][]? all = comm.GatherBytes(JsonSerializer.SerializeToUtf8Bytes(mine, RunReport.Json), root: 0);
        if (all is null) return null;
        var ranks = all.Select(b => JsonSerializer.Deserialize<RankReport>(b, RunReport.Json)!).ToList();
        return Build(job, Align(ranks), wallSeconds, dryRun: false);
    }

    /// <summary>
    /// Each rank's clock starts when the launcher started it, a little apart. Every rank leaves the first phase
    /// agreement (after the metadata broadcast) at the same moment, so the lanes are shifted to line up there.
    /// </summary>
    private static List<RankReport> Align(List<RankReport> ranks)
    {
        static double? FirstSync(RankReport r) => r.Timeline.TryGetValue(CollectivePhase.WaitKind, out var w) && w.Count > 0 ? w[0].End : null;
        if (FirstSync(ranks[0]) is not double reference) return ranks;
        return ranks.Select(r =>
        {
            double shift = FirstSync(r) is double mine ? reference - mine : 0;
            if (Math.Abs(shift) < 1e-9) return r;
            var moved = r.Timeline.ToDictionary(p => p.Key, p => (IReadOnlyList<TimelineSpan>)p.Value.Select(s => new TimelineSpan(s.Start + shift, s.End + shift, s.Busy)).ToArray());
            return r with { Timeline = moved };
        }).ToList();
    }

    /// <summary>A dry run's report: the plan's per-rank bytes at the assumed bandwidth, as a predicted timeline.</summary>
    public static RunReport Predict(JobFacts job, double bytesPerSecond)
    {
        var ranks = job.Plan.PerRank.Select(r =>
        {
            double seconds = (r.BytesRead + r.BytesWritten) / bytesPerSecond;
            var spans = new Dictionary<string, IReadOnlyList<TimelineSpan>> { ["predicted"] = [new TimelineSpan(0, seconds, seconds)] };
            return new RankReport(r.Rank, "(planned)", r.BytesRead, r.BytesWritten, seconds, 0, spans);
        }).ToList();
        return Build(job, ranks, job.Plan.PredictedSeconds(bytesPerSecond), dryRun: true) with { AssumedBytesPerSecond = bytesPerSecond };
    }

    private static RunReport Build(JobFacts job, List<RankReport> ranks, double wallSeconds, bool dryRun) => new()
    {
        Version = Manifests.Manifest.ToolVersion,
        CreatedUtc = DateTime.UtcNow,
        CommandLine = job.CommandLine,
        From = job.From,
        To = job.To,
        Input = job.Input,
        Output = job.Output,
        DryRun = dryRun,
        Mpi = job.Mpi,
        Ranks = ranks.Count,
        Io = job.Io,
        MaxBuffer = job.MaxBuffer,
        InputBytes = job.InputBytes,
        OutputBytes = job.OutputBytes,
        OutputFiles = job.OutputFiles,
        BytesRead = job.Plan.BytesRead,
        BytesWritten = job.Plan.BytesWritten,
        PlanBalance = job.Plan.Balance,
        PlanHash = job.Plan.Hash,
        PlanSeconds = job.PlanSeconds,
        WallSeconds = Math.Round(wallSeconds, 3),
        Striping = job.Striping,
        PerRank = ranks,
        PerNode = RunReport.Nodes(ranks),
    };

    /// <summary>The process's peak resident set (VmHWM), 0 where /proc does not say.</summary>
    public static long PeakRss()
    {
        try
        {
            foreach (string line in File.ReadLines("/proc/self/status"))
            {
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                    return long.Parse(line[6..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture) * 1024;
            }
        }
        catch (IOException) { }
        return 0;
    }
}
