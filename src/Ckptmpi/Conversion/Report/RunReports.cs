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

    /// <summary>
    /// Runs the report's code once on a sample (the plan's prediction) on a low-priority background thread while the
    /// job streams, and throws the result away. The report's own work is small (tens of kB); what made it cost a few
    /// percent of a short job was compiling its code on first use, at the end of the job, on the critical path. The
    /// conversion itself waits on I/O most of the time, so the compilation hides there.
    /// </summary>
    public static void WarmUp(ReportCollector.JobFacts facts, bool rendersHtml)
    {
        var thread = new Thread(() =>
        {
            try
            {
                RunReport sample = ReportCollector.Predict(facts, 1e9);
                foreach (RankReport r in sample.PerRank.Take(1))
                    System.Text.Json.JsonSerializer.Deserialize<RankReport>(System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(r, RunReport.Json), RunReport.Json);
                if (!rendersHtml) return;
                System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(sample, RunReport.Json);
                ReportHtml.Render(sample);
            }
            catch (Exception e)
            {
                Log.Debug(e, "run report warm-up failed (the report is still written at the end)");
            }
        })
        { IsBackground = true, Priority = ThreadPriority.Lowest, Name = "report warm-up" };
        thread.Start();
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
