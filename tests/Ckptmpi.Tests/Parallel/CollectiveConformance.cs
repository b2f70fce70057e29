using Ckptmpi.Parallel;
using Ckptmpi.Parallel.SelfTest;

namespace Ckptmpi.Tests.Parallel;

/// <summary>
/// The shared collective suite (src/Ckptmpi/Parallel/SelfTest/CollectiveChecks.cs), one test per check, bound to
/// a communicator by each subclass. The same checks run over real MPI in MpiSelfTestTests.
/// </summary>
public abstract class CollectiveConformance
{
    /// <summary>Runs <paramref name="body"/> on every rank of the communicator under test and rethrows a rank's failure.</summary>
    protected abstract void RunOnEveryRank(Action<ICommunicator> body);

    public static IEnumerable<string> CheckNames => CollectiveChecks.All.Select(c => c.Name);

    [TestCaseSource(nameof(CheckNames))]
    public void Check_passes(string name) => RunOnEveryRank(CollectiveChecks.All.Single(c => c.Name == name).Run);
}

[TestFixture]
public sealed class SelfCommunicatorConformanceTests : CollectiveConformance
{
    protected override void RunOnEveryRank(Action<ICommunicator> body)
    {
        using var comm = new SelfCommunicator();
        body(comm);
    }
}

[TestFixture(1)]
[TestFixture(2)]
[TestFixture(4)]
[TestFixture(7)]
public sealed class ThreadCommunicatorConformanceTests(int size) : CollectiveConformance
{
    protected override void RunOnEveryRank(Action<ICommunicator> body) =>
        ThreadCommunicator.Run(size, body, TimeSpan.FromSeconds(60));
}
