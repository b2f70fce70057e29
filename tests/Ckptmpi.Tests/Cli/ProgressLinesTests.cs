using Ckptmpi.Cli;
using Serilog;
using Serilog.Core;
using Serilog.Events;

namespace Ckptmpi.Tests.Cli;

public sealed class ProgressLinesTests
{
    private sealed class Collect : ILogEventSink
    {
        public List<string> Lines { get; } = [];
        public void Emit(LogEvent e) { lock (Lines) Lines.Add(e.RenderMessage()); }
    }

    [Test]
    public void A_phase_logs_at_most_one_line_per_interval_and_one_at_the_end()
    {
        var sink = new Collect();
        ILogger log = new LoggerConfiguration().WriteTo.Sink(sink).CreateLogger();
        var progress = new ProgressLines(log, TimeSpan.FromHours(1));
        using (var phase = progress.BeginPhase("convert", 4L << 30))
        {
            for (int i = 0; i < 1000; i++) phase.Advance(1 << 20);
        }
        Assert.That(sink.Lines, Has.Count.EqualTo(1));
        Assert.That(sink.Lines[0], Does.StartWith("convert: stopped, 1.0 GiB of 4.0 GiB (24.4 %), "), "ended short of its total");
    }

    [Test]
    public void A_line_gives_amount_percentage_rate_and_time_left()
    {
        var phase = new ProgressLines.Phase(new LoggerConfiguration().CreateLogger(), TimeSpan.FromSeconds(10), "convert", 10L << 30);
        Assert.That(phase.Describe(5L << 30, TimeSpan.FromSeconds(10)),
            Is.EqualTo("5.0 GiB of 10.0 GiB (50.0 %), 0.50 GiB/s, about 00:00:10 left"));
    }

    [Test]
    public void Ranks_other_than_0_report_nothing()
    {
        var reporters = Ckptmpi.Parallel.ThreadCommunicator.Run(2, comm => ProgressReporters.For(comm));
        Assert.That(reporters[1], Is.SameAs(Ckptmpi.Parallel.NullProgressReporter.Instance));
        Assert.That(reporters[0], Is.InstanceOf<ProgressLines>(), "tests run with stderr redirected: plain lines, not bars");
    }
}
