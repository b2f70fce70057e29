using Ckptmpi.Parallel;

namespace Ckptmpi.Tests.Parallel;

public sealed class BandwidthProbeTests
{
    [Test]
    public void The_probe_gives_every_rank_the_same_finite_positive_figures()
    {
        BandwidthProbe.Result[] results = ThreadCommunicator.Run(3, comm => BandwidthProbe.Measure(comm, 1 << 20));
        Assert.That(results.Select(r => r.BcastSeconds).Distinct().Count(), Is.EqualTo(1));
        Assert.That(results[0].Bytes, Is.EqualTo(1 << 20));
        Assert.That(results[0].BcastGiBps, Is.GreaterThan(0).And.LessThan(double.PositiveInfinity));
        Assert.That(results[0].AlltoallvGiBps, Is.GreaterThan(0).And.LessThan(double.PositiveInfinity));
    }
}
