using Ckptmpi.Errors;
using Ckptmpi.Parallel;

namespace Ckptmpi.Tests.Parallel;

public sealed class CollectivePhaseTests
{
    [Test]
    public void Every_rank_gets_the_same_RankFailedException_naming_the_lowest_failing_rank()
    {
        string[] messages = ThreadCommunicator.Run(5, comm =>
        {
            try
            {
                comm.RunPhase("read metadata", () =>
                {
                    if (comm.Rank >= 3) throw new FileNotFoundException($"shard {comm.Rank} missing");
                });
                return "no failure";
            }
            catch (RankFailedException e)
            {
                return $"{e.Rank}|{e.Message}";
            }
        });
        Assert.That(messages, Is.All.EqualTo("3|rank 3 failed: read metadata: shard 3 missing"));
    }

    [Test]
    public void The_failing_ranks_exit_code_comes_from_the_installed_mapping()
    {
        Func<Exception, int> saved = CollectivePhase.ExitCodeOf;
        CollectivePhase.ExitCodeOf = e => e is FileNotFoundException ? 5 : 70;
        try
        {
            int[] codes = ThreadCommunicator.Run(3, comm =>
            {
                try
                {
                    comm.RunPhase("plan", () => { if (comm.Rank == 2) throw new FileNotFoundException("x"); });
                    return 0;
                }
                catch (RankFailedException e)
                {
                    return e.ExitCode;
                }
            });
            Assert.That(codes, Is.All.EqualTo(5));
        }
        finally
        {
            CollectivePhase.ExitCodeOf = saved;
        }
    }

    [Test]
    public void A_failure_agreed_in_an_inner_phase_passes_through_an_outer_phase_unchanged()
    {
        string[] messages = ThreadCommunicator.Run(3, comm =>
        {
            try
            {
                comm.RunPhase("outer", () => comm.RunPhase("inner", () => { if (comm.Rank == 1) throw new InvalidDataException("bad"); }));
                return "";
            }
            catch (RankFailedException e)
            {
                return e.Message;
            }
        });
        Assert.That(messages, Is.All.EqualTo("rank 1 failed: inner: bad"));
    }

    [Test]
    public void A_phase_that_succeeds_everywhere_returns_each_ranks_value()
    {
        int[] values = ThreadCommunicator.Run(4, comm => comm.RunPhase("count", () => comm.Rank * comm.Rank));
        Assert.That(values, Is.EqualTo(new[] { 0, 1, 4, 9 }));
    }

    [Test]
    public void Different_values_on_one_rank_fail_every_rank_with_the_same_message()
    {
        string[] messages = ThreadCommunicator.Run(3, comm =>
        {
            try
            {
                comm.AssertSameOnAllRanks(comm.Rank == 2 ? "sha256:bbb" : "sha256:aaa", "conversion plan");
                return "";
            }
            catch (RankFailedException e)
            {
                return e.Message;
            }
        });
        Assert.That(messages, Is.All.EqualTo("rank 2 failed: rank 2 computed a different conversion plan than rank 0 (sha256:bbb vs sha256:aaa)"));
    }
}
