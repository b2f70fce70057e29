using Ckptmpi.Cli;
using Ckptmpi.Errors;
using Ckptmpi.Parallel;

namespace Ckptmpi.Tests.Cli;

/// <summary>JobRunner's failure policy, on in-process ranks (the mpiexec side is in MpiCommunicatorTests).</summary>
public sealed class JobRunnerTests
{
    [Test]
    public void A_non_zero_code_returned_by_one_rank_is_returned_by_every_rank()
    {
        int[] codes = ThreadCommunicator.Run(4, comm => JobRunner.Run(comm, c => c.Rank == 2 ? ExitCodes.IoError : ExitCodes.Success));
        Assert.That(codes, Is.All.EqualTo(ExitCodes.IoError));
    }

    [Test]
    public void The_lowest_failing_ranks_code_wins()
    {
        int[] codes = ThreadCommunicator.Run(4, comm => JobRunner.Run(comm, c => c.Rank switch { 1 => 3, 3 => 5, _ => 0 }));
        Assert.That(codes, Is.All.EqualTo(3));
    }

    [Test]
    public void A_failure_agreed_in_a_phase_gives_every_rank_the_failing_ranks_exit_code()
    {
        int[] codes = ThreadCommunicator.Run(3, comm => JobRunner.Run(comm, c =>
        {
            CollectivePhase.ExitCodeOf = ExitCodes.For;
            c.RunPhase("read", () =>
            {
                if (c.Rank == 1) throw new CheckpointFormatException("model.safetensors", 8, "header is not JSON");
            });
            return ExitCodes.Success;
        }));
        Assert.That(codes, Is.All.EqualTo(ExitCodes.BadInput));
    }

    [Test]
    public void An_exception_on_one_rank_at_the_end_gives_every_rank_its_code_without_an_abort()
    {
        int[] codes = ThreadCommunicator.Run(3, comm => JobRunner.Run(comm, c =>
        {
            c.Barrier();
            if (c.Rank == 1) throw new IOException("disk full");
            return ExitCodes.Success;
        }));
        Assert.That(codes, Is.All.EqualTo(ExitCodes.IoError));
    }

    [Test]
    public void A_failing_rank_whose_peers_are_stuck_in_a_collective_aborts_the_job_with_its_code()
    {
        TimeSpan saved = JobRunner.FailedRankWait;
        JobRunner.FailedRankWait = TimeSpan.FromMilliseconds(300);
        try
        {
            var e = Assert.Throws<CommunicatorAbortedException>(() => ThreadCommunicator.Run(3, comm => JobRunner.Run(comm, c =>
            {
                if (c.Rank == 2) throw new IOException("disk full");
                c.Barrier(); // ranks 0 and 1 are stuck here until the abort
                return ExitCodes.Success;
            })));
            Assert.That((e!.Rank, e.ExitCode), Is.EqualTo((2, ExitCodes.IoError)));
            Assert.That(e.Reason, Does.StartWith("rank 2 failed: disk full (the other ranks did not reach the end of the job"));
        }
        finally
        {
            JobRunner.FailedRankWait = saved;
        }
    }

    [Test]
    public void A_single_process_returns_the_mapped_code_without_aborting()
    {
        int code = JobRunner.Run(new SelfCommunicator(), _ => throw new UsageException("--max-buffer must be positive"));
        Assert.That(code, Is.EqualTo(ExitCodes.Usage));
    }
}
