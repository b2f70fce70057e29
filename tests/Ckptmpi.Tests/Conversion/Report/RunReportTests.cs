using System.Diagnostics;
using System.Text.Json;
using Ckptmpi.Conversion;
using Ckptmpi.Conversion.Manifests;
using Ckptmpi.Conversion.Report;
using Ckptmpi.Conversion.Verify;
using Ckptmpi.Parallel;
using Ckptmpi.Parallel.Timeline;
using Ckptmpi.Tests.Conversion.Trust;

using Ckptmpi.Formats.DeepSpeed;

namespace Ckptmpi.Tests.Conversion.Report;

/// <summary>The run report: what it says agrees with the manifest and the plan, and where it goes.</summary>
public sealed class RunReportTests : TrustFixture
{
    private ConvertRequest ToZero(string output) => HfToHf(output) with { To = "zero", FormatOptions = [TrainingSettingsForTests.Zero(3, 4)], DType = null };

    [Test]
    public void The_report_of_a_3_rank_run_agrees_with_the_manifest_and_the_plan_and_has_one_lane_per_rank()
    {
        string output = Path.Combine(Dir, "out");
        Assert.That(RunInProcess(ToZero(output), ranks: 3), Is.Null);
        Manifest manifest = Manifest.Read(output);
        RunReport report = ReportFiles.Read(output);

        Assert.That(report.Ranks, Is.EqualTo(3));
        Assert.That(report.OutputFiles, Is.EqualTo(manifest.Outputs.Count));
        Assert.That(report.OutputBytes, Is.EqualTo(manifest.Outputs.Sum(o => o.Size)));
        Assert.That(report.InputBytes, Is.EqualTo(manifest.Inputs.Sum(i => i.Size)));
        Assert.That(report.PlanHash, Is.EqualTo(manifest.Plan.Hash));
        Assert.That(report.BytesWritten, Is.EqualTo(manifest.Plan.BytesWritten).And.EqualTo(report.OutputBytes));
        Assert.That(report.PerRank.Select(r => r.Rank), Is.EqualTo(new[] { 0, 1, 2 }));
        Assert.That(report.PerRank.Sum(r => r.BytesWritten), Is.EqualTo(report.BytesWritten));
        Assert.That(report.PerRank.Select(r => r.BytesWritten), Is.EqualTo(manifest.Plan.PerRank.Select(r => r.BytesWritten)));
        Assert.That(report.PerNode, Has.Count.EqualTo(1));
        Assert.That(report.PerNode[0].Ranks, Is.EqualTo(new[] { 0, 1, 2 }));
        Assert.That(report.WallSeconds, Is.GreaterThanOrEqualTo(manifest.WallSeconds));
        foreach (RankReport r in report.PerRank)
        {
            Assert.That(r.Timeline.Keys, Does.Contain("phase:read source metadata").And.Contain("phase:plan").And.Contain("phase:write").And.Contain("wait"));
            Assert.That(r.Timeline.Keys, Does.Contain("read").And.Contain("transform").And.Contain("write").And.Contain("sync"), $"rank {r.Rank}");
            Assert.That(r.WriteSeconds, Is.GreaterThan(0));
            Assert.That(r.PeakRssBytes, Is.GreaterThan(0));
        }
        Assert.That(report.PerRank[0].Timeline.Keys, Does.Contain("phase:commit").And.Contain("phase:write manifest"));

        string html = File.ReadAllText(Path.Combine(output, ReportFiles.HtmlName));
        Assert.That(System.Text.RegularExpressions.Regex.Matches(html, "<g class=\"lane\"").Count, Is.EqualTo(3));
        Assert.That(html, Does.Not.Contain("<script").And.Not.Contain("http://").And.Not.Contain("https://"));
        Assert.That(Verifier.CheckFiles(new SelfCommunicator(), output), Is.Empty, "the report is not an unexpected file");
    }

    [Test]
    public void No_report_writes_none_and_report_PATH_writes_there_only()
    {
        string plain = Path.Combine(Dir, "plain"), elsewhere = Path.Combine(Dir, "reports", "job.html"), other = Path.Combine(Dir, "other");
        Assert.That(RunInProcess(HfToHf(plain) with { NoReport = true }), Is.Null);
        Assert.That(File.Exists(Path.Combine(plain, ReportFiles.HtmlName)), Is.False);
        Assert.That(RunInProcess(HfToHf(other) with { Report = elsewhere }), Is.Null);
        Assert.That(File.Exists(elsewhere) && File.Exists(Path.ChangeExtension(elsewhere, ".json")));
        Assert.That(File.Exists(Path.Combine(other, ReportFiles.HtmlName)), Is.False);
    }

    [Test]
    public void A_dry_run_with_report_writes_the_predicted_timeline_and_creates_no_output()
    {
        string output = Path.Combine(Dir, "never"), html = Path.Combine(Dir, "plan.html");
        Assert.That(RunInProcess(ToZero(output) with { DryRun = true, PlanRanks = 8, Report = html, AssumeBandwidth = 2e9 }, ranks: 1), Is.Null);
        Assert.That(Directory.Exists(output), Is.False);
        RunReport report = ReportFiles.Read(Path.ChangeExtension(html, ".json"));
        Assert.That(report.DryRun && report.Ranks == 8 && report.AssumedBytesPerSecond == 2e9);
        Assert.That(report.PerRank.Select(r => r.Timeline["predicted"][0].End), Is.EqualTo(report.PerRank.Select(r => (r.BytesRead + r.BytesWritten) / 2e9)).Within(1e-6));
        Assert.That(report.WallSeconds, Is.EqualTo(report.PerRank.Max(r => r.Timeline["predicted"][0].End)).Within(1e-3));
    }

    [Test]
    public void Ckptmpi_report_renders_the_same_page_again_from_the_json()
    {
        string output = Path.Combine(Dir, "out");
        Assert.That(RunInProcess(HfToHf(output)), Is.Null);
        string html = Path.Combine(output, ReportFiles.HtmlName);
        string original = File.ReadAllText(html);
        File.Delete(html);
        ProcessResult r = RunProgram("report", output);
        Assert.That(r.ExitCode, Is.EqualTo(0), r.ToString());
        Assert.That(File.ReadAllText(html), Is.EqualTo(original));
        Assert.That(RunProgram("report", Path.Combine(output, "config.json")).ExitCode, Is.EqualTo(3), "not a report");
    }

    [Test]
    public void A_timeline_keeps_a_bounded_number_of_spans_and_their_busy_time()
    {
        var timeline = new RankTimeline(Stopwatch.StartNew());
        double busy = 0;
        for (int i = 0; i < 20_000; i++)
        {
            timeline.Add("read", i * 1e-3, i * 1e-3 + 4e-4);
            busy += 4e-4;
        }
        IReadOnlyList<TimelineSpan> spans = timeline.Snapshot()["read"];
        Assert.That(spans.Count, Is.LessThanOrEqualTo(RankTimeline.MaxSpansPerKind).And.GreaterThan(RankTimeline.MaxSpansPerKind / 4));
        Assert.That(spans.Sum(s => s.Busy), Is.EqualTo(busy).Within(0.01));
        Assert.That(spans[0].Start, Is.EqualTo(0));
        Assert.That(spans[^1].End, Is.EqualTo(19.9994).Within(1e-3));
        Assert.That(spans.Zip(spans.Skip(1)).All(p => p.First.End <= p.Second.Start), "in time order, not overlapping");
    }
}
