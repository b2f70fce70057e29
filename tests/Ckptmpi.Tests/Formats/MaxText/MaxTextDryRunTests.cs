using System.Diagnostics;
using Ckptmpi.Conversion;
using Ckptmpi.Formats.MaxText;
using Ckptmpi.Parallel;

namespace Ckptmpi.Tests.Formats.MaxText;

/// <summary>Llama 3.1 405B to MaxText planned from its config.json alone: what the int8 job reads and writes.</summary>
public sealed class MaxTextDryRunTests
{
    private const long Parameters405B = 405_853_388_800; // tests/fixtures/configs/README.md

    private static ConversionJob.Outcome DryRun(bool int8)
    {
        string config = Path.Combine(TestPaths.Fixtures, "configs", "llama-3.1-405b.json");
        var request = new ConvertRequest
        {
            From = "hf", To = "maxtext", Input = config, Output = Path.Combine(Path.GetTempPath(), "ckptmpi-never-written"), DryRun = true, PlanRanks = 64,
            FormatOptions = [new MaxTextOptions { Model = "llama3.1-405b", Int8 = int8 }],
        };
        TimeSpan cpu = Process.GetCurrentProcess().TotalProcessorTime;
        ConversionJob.Outcome o = ThreadCommunicator.Run(1, comm => ConversionJob.Run(comm, request), TimeSpan.FromSeconds(120))[0];
        TestContext.Out.WriteLine($"int8 {int8}: planned in {o.PlanSeconds:F2} s ({(Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds:F2} s CPU), "
            + $"{o.Plan.Files} files, read {o.Plan.BytesRead:N0}, write {o.Plan.BytesWritten:N0}, balance {o.Plan.Balance}");
        return o;
    }

    [Test]
    public void Int8_reads_each_kernel_once_for_its_values_and_its_scales()
    {
        ConversionJob.Outcome o = DryRun(int8: true);
        // Every bf16 weight is read once (the values and scales of a kernel share the read).
        Assert.That(o.Plan.BytesRead, Is.InRange(Parameters405B * 2, Parameters405B * 2 * 1001 / 1000));
        // int8 kernels, bf16 embedding, logits and norms, and one bf16 scale per output channel of each kernel.
        Assert.That(o.Plan.BytesWritten, Is.InRange(Parameters405B, Parameters405B * 11 / 10));
        Assert.That(o.Plan.Files, Is.EqualTo(104_337), "every values and scales chunk file, .zarray files and _METADATA");
        Assert.That(o.Plan.Balance, Is.LessThan(1.05));
        Assert.That(o.Plan.PerRank.Max(r => r.PeakBuffer), Is.LessThanOrEqualTo(128L << 20), "within the default --max-buffer's half");
    }
}
