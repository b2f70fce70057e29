using Ckptmpi.Cli;
using Ckptmpi.Conversion;
using Ckptmpi.Conversion.Demo;
using Ckptmpi.Conversion.Execution;
using Ckptmpi.Conversion.Planning;
using Ckptmpi.Parallel;
using Ckptmpi.Tensors;
using Serilog;
using Serilog.Core;
using Serilog.Events;

using Ckptmpi.Formats.Safetensors;

namespace Ckptmpi.Tests.Conversion.Journal;

/// <summary>Rank 0's progress of a conversion: the bytes every rank journaled, without any exchange between ranks.</summary>
public sealed class JournalProgressTests
{
    private string _dir = null!;
    private string _model = null!;

    private sealed class Recorder : IProgressReporter, IProgressPhase
    {
        public List<(string Name, long Total)> Phases { get; } = [];
        public long Done;
        public int Ended;
        public IProgressPhase BeginPhase(string name, long total) { lock (Phases) Phases.Add((name, total)); return this; }
        public void Advance(long done) => Interlocked.Add(ref Done, done);
        public void Dispose() => Interlocked.Increment(ref Ended);
    }

    private sealed class Collect : ILogEventSink
    {
        public List<string> Lines { get; } = [];
        public void Emit(LogEvent e) { lock (Lines) Lines.Add(e.RenderMessage()); }
    }

    [OneTimeSetUp]
    public void SetUp()
    {
        _dir = TestPaths.NewTempDir();
        _model = Path.Combine(_dir, "model");
        new DemoModel { HiddenSize = 64, IntermediateSize = 172, Layers = 2, VocabSize = 500, Heads = 4, KvHeads = 2, MaxShardBytes = 200_000 }.Write(_model);
    }

    [OneTimeTearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    private ConvertRequest Request(string output, IoMode io) => new()
    {
        From = "hf", To = "hf", Input = _model, Output = output, DType = DType.F32, FormatOptions = [new HfOptions { MaxShardSize = 150_000 }], MaxBuffer = 64 << 10, Io = io,
    };

    [TestCase(IoMode.Direct)]
    [TestCase(IoMode.Aggregate)]
    public void Rank_0_shows_the_bytes_written_by_all_ranks_and_other_ranks_show_nothing(IoMode io)
    {
        var recorders = new[] { new Recorder(), new Recorder(), new Recorder() };
        string output = Path.Combine(_dir, $"out-{io}");
        ConversionJob.Outcome[] outcomes = ThreadCommunicator.Run(3, comm => ConversionJob.Run(comm, Request(output, io), recorders[comm.Rank]), TimeSpan.FromSeconds(60));
        ConvertRequest request = Request(output, io);
        Plan plan = ConversionJob.BuildPlan(ConversionJob.ReadInputs(request), request, 3);
        Assert.That(plan.Hash, Is.EqualTo(outcomes[0].Plan.Hash));
        long all = plan.Ranks.Sum(r => r.BytesWritten); // the pieces; the commit markers rank 0 writes last are not journaled
        Assert.That(recorders[0].Phases, Is.EqualTo(new[] { ("convert", all) }));
        Assert.That(recorders[0].Done, Is.EqualTo(all), "every rank's pieces, read from their journals");
        Assert.That(recorders[0].Done, Is.GreaterThan(plan.Ranks[0].BytesWritten), "more than rank 0's own share");
        Assert.That(recorders[0].Ended, Is.EqualTo(1));
        Assert.That(recorders.Skip(1).Select(r => r.Phases.Count), Is.All.EqualTo(0));
    }

    [Test]
    public void In_a_batch_log_the_final_line_says_everything_was_written()
    {
        var sink = new Collect();
        var lines = new ProgressLines(new LoggerConfiguration().WriteTo.Sink(sink).CreateLogger(), TimeSpan.FromHours(1));
        string output = Path.Combine(_dir, "out-lines");
        ThreadCommunicator.Run(2, comm => ConversionJob.Run(comm, Request(output, IoMode.Direct), comm.Rank == 0 ? lines : NullProgressReporter.Instance), TimeSpan.FromSeconds(60));
        Assert.That(sink.Lines, Has.Count.EqualTo(1));
        Assert.That(sink.Lines[0], Does.StartWith("convert: done, ").And.Contain("(100.0 %)"));
    }
}
