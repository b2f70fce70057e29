using System.Diagnostics;
using Ckptmpi.Parallel;
using Ckptmpi.Parallel.Timeline;
using Serilog;

namespace Ckptmpi.Conversion.Report;

/// <summary>
/// The report step of a conversion: after the manifest (the checkpoint is complete and committed by then), every rank
/// sends its part to rank 0, which writes the report. A report that cannot be written is a warning: it never fails a
/// conversion that succeeded.
/// </summary>
public static class RunReports
{
    /// <summary>Collective. Returns the HTML path on rank 0 (null elsewhere or if writing failed).</summary>
    /// <param name="requested">--report (a file or folder), or null for the output directory.</param>
    public static string? WriteRun(ICommunicator comm, RankTimeline timeline, ReportCollector.JobFacts facts, string? requested, Stopwatch clock)
    {
        double start = clock.Elapsed.TotalSeconds;
        RunReport? report = ReportCollector.Collect(comm, timeline, facts, start);
        string? path = report is null ? null : TryWrite(report, ReportFiles.HtmlPath(requested, facts.Output));
        if (path is not null)
        {
            double seconds = clock.Elapsed.TotalSeconds - start;
            Log.Information("run report {Path} written in {Seconds:0.000} s ({Percent:0.0}% of the job)", path, seconds, 100 * seconds / clock.Elapsed.TotalSeconds);
        }
        return path;
    }

    /// <summary>Rank 0 of a dry run with <c>--report</c>: the predicted timeline at <paramref name="bytesPerSecond"/> per rank.</summary>
    public static string? WritePrediction(ReportCollector.JobFacts facts, string requested, double bytesPerSecond) =>
        TryWrite(ReportCollector.Predict(facts, bytesPerSecond), ReportFiles.HtmlPath(requested, facts.Output));

    private static string? TryWrite(RunReport report, string path)
    {
        try
        {
            return ReportFiles.Write(report, path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Log.Warning("the run report could not be written to {Path}: {Message}", path, e.Message);
            return null;
        }
    }
}
