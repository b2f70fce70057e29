using System.Text.Json;
using System.Text.Json.Serialization;
using Ckptmpi.Parallel.Timeline;

namespace Ckptmpi.Conversion.Report;

/// <summary>
/// Everything the run report shows, as data (<c>ckptmpi-report.json</c>, for scripts; the HTML page is rendered from
/// it, also by <c>ckptmpi report</c>): the job, every rank's share, host, memory and timeline, and per-node rates.
/// Timings are gathered once, at the end of the job; nothing here costs a collective on the hot path.
/// </summary>
public sealed record RunReport
{
    public string Tool { get; init; } = "ckptmpi";
    public required string Version { get; init; }
    public required DateTime CreatedUtc { get; init; }
    public required IReadOnlyList<string> CommandLine { get; init; }
    public required string From { get; init; }
    public required string To { get; init; }
    public required string Input { get; init; }
    public required string Output { get; init; }

    /// <summary>A dry run: the timeline is the plan's prediction, nothing was read or written.</summary>
    public bool DryRun { get; init; }
    public required string Mpi { get; init; }
    public required int Ranks { get; init; }
    public required string Io { get; init; }
    public required long MaxBuffer { get; init; }
    public required long InputBytes { get; init; }
    public required long OutputBytes { get; init; }
    public required int OutputFiles { get; init; }
    public required long BytesRead { get; init; }
    public required long BytesWritten { get; init; }
    public required double PlanBalance { get; init; }
    public required string PlanHash { get; init; }
    public required double PlanSeconds { get; init; }
    public required double WallSeconds { get; init; }

    /// <summary>Dry runs: the bandwidth per rank the prediction assumes.</summary>
    public double? AssumedBytesPerSecond { get; init; }

    /// <summary>How the output directory was striped (Lustre), or null where nothing was set.</summary>
    public string? Striping { get; init; }
    public required IReadOnlyList<RankReport> PerRank { get; init; }
    public required IReadOnlyList<NodeReport> PerNode { get; init; }

    /// <summary>
    /// The report's JSON contract, source-generated: reflection-based serialization spent most of the report's cost
    /// building its metadata on first use, at the end of every job.
    /// </summary>
    public static JsonSerializerOptions Json => ReportJsonContext.Default.Options;

    public static IReadOnlyList<NodeReport> Nodes(IEnumerable<RankReport> ranks) =>
        ranks.GroupBy(r => r.Host, StringComparer.Ordinal).OrderBy(g => g.Min(r => r.Rank))
            .Select(g => new NodeReport(g.Key, g.Select(r => r.Rank).Order().ToList(), g.Sum(r => r.BytesRead), g.Sum(r => r.BytesWritten),
                                        g.Max(r => r.WriteSeconds))).ToList();
}

/// <summary>One rank: its planned share, how long its write phase took, its peak memory, and its timeline.</summary>
public sealed record RankReport(int Rank, string Host, long BytesRead, long BytesWritten, double WriteSeconds, long PeakRssBytes,
                                IReadOnlyDictionary<string, IReadOnlyList<TimelineSpan>> Timeline)
{
    public double WrittenBytesPerSecond => WriteSeconds > 0 ? BytesWritten / WriteSeconds : 0;
}

/// <summary>The ranks of one host together: their bytes, and the time its slowest rank spent writing.</summary>
public sealed record NodeReport(string Host, IReadOnlyList<int> Ranks, long BytesRead, long BytesWritten, double WriteSeconds)
{
    public double ReadBytesPerSecond => WriteSeconds > 0 ? BytesRead / WriteSeconds : 0;
    public double WrittenBytesPerSecond => WriteSeconds > 0 ? BytesWritten / WriteSeconds : 0;
}

/// <summary>Compile-time JSON metadata for the report types (see <see cref="RunReport.Json"/>).</summary>
[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
                             NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals)]
[JsonSerializable(typeof(RunReport))]
[JsonSerializable(typeof(RankReport))]
internal sealed partial class ReportJsonContext : JsonSerializerContext;
