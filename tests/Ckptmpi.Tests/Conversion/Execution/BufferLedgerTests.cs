using Ckptmpi.Conversion;
using Ckptmpi.Conversion.Demo;
using Ckptmpi.Conversion.Execution;
using Ckptmpi.Conversion.Planning;
using Ckptmpi.Parallel;
using Ckptmpi.Tensors;

using Ckptmpi.Formats.Safetensors;

namespace Ckptmpi.Tests.Conversion.Execution;

/// <summary>The bytes the executor's buffers really hold, counted where they are allocated, against <c>--max-buffer</c>.</summary>
public sealed class BufferLedgerTests
{
    private string _dir = null!;
    private string _model = null!;

    [OneTimeSetUp]
    public void SetUp()
    {
        _dir = TestPaths.NewTempDir();
        _model = Path.Combine(_dir, "model");
        // A 96 KiB tensor (vocab x hidden in f32 after the cast) is larger than every small budget below.
        new DemoModel { HiddenSize = 64, IntermediateSize = 172, Layers = 2, VocabSize = 384, Heads = 4, KvHeads = 2, MaxShardBytes = 200_000 }.Write(_model);
    }

    [OneTimeTearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    [Test]
    public void A_buffer_past_the_budget_is_refused_and_a_freed_one_is_given_back()
    {
        var ledger = new BufferLedger(BufferBudget.Direct(BufferBudget.Minimum));
        using (var a = new ChunkBuffer(40_000, ledger))
        {
            Assert.That(() => new ChunkBuffer(40_000, ledger), Throws.InvalidOperationException.With.Message.Contains("--max-buffer"));
        }
        using var b = new ChunkBuffer(40_000, ledger);
        Assert.That(ledger.PeakBytes, Is.EqualTo(40_000));
    }

    [Test]
    public void Buffers_held_at_once_never_exceed_max_buffer(
        [Values(64L << 10, 100_000L, 256L << 10, 1L << 20)] long maxBuffer, [Values] IoMode io, [Values(1, 3)] int ranks)
    {
        string output = Path.Combine(_dir, $"out-{maxBuffer}-{io}-{ranks}");
        var request = new ConvertRequest { From = "hf", To = "hf", Input = _model, Output = output, DType = DType.F32, FormatOptions = [new HfOptions { MaxShardSize = 150_000 }], MaxBuffer = maxBuffer, Io = io };
        ConversionJob.Outcome[] outcomes = ThreadCommunicator.Run(ranks, comm => ConversionJob.Run(comm, request), TimeSpan.FromSeconds(60));
        long[] peaks = outcomes.Select(o => o.Execution!.PeakBufferBytes).ToArray();
        Assert.That(peaks, Has.All.LessThanOrEqualTo(maxBuffer));
        // The budget is used, not just respected: the largest chunk fills most of its share.
        Assert.That(peaks.Max(), Is.GreaterThan(Math.Min(maxBuffer, outcomes[0].Plan.PerRank.Max(r => r.PeakBuffer)) / 2));
        Directory.Delete(output, recursive: true);
    }
}
