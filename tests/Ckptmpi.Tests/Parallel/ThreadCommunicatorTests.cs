using System.Diagnostics;
using Ckptmpi.Parallel;

namespace Ckptmpi.Tests.Parallel;

public sealed unsafe class ThreadCommunicatorTests
{
    [Test]
    public void Run_returns_each_ranks_result_in_rank_order()
    {
        int[] ranks = ThreadCommunicator.Run(5, comm => comm.Rank * 10 + comm.Size);
        Assert.That(ranks, Is.EqualTo(new[] { 5, 15, 25, 35, 45 }));
    }

    [Test]
    public void Implementation_names_the_thread_count()
    {
        string[] names = ThreadCommunicator.Run(3, comm => comm.Implementation);
        Assert.That(names, Is.All.EqualTo("threads(3)"));
    }

    [Test]
    public void A_throwing_rank_stops_the_others_and_its_exception_is_rethrown_with_its_type()
    {
        var clock = Stopwatch.StartNew();
        Assert.That(() => ThreadCommunicator.Run(4, comm =>
            {
                if (comm.Rank == 2) throw new InvalidDataException("rank two is broken");
                comm.Barrier(); // the others wait here until rank 2's failure stops them
            }),
            Throws.TypeOf<InvalidDataException>().With.Message.EqualTo("rank two is broken"));
        Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(10)));
    }

    [Test]
    public void The_lowest_failing_rank_is_reported_when_several_fail()
    {
        Assert.That(() => ThreadCommunicator.Run(4, comm =>
            {
                comm.Barrier();
                if (comm.Rank >= 1) throw new InvalidOperationException($"rank {comm.Rank}");
            }),
            Throws.InvalidOperationException.With.Message.EqualTo("rank 1"));
    }

    [Test]
    public void Abort_on_one_rank_ends_every_rank_with_the_exit_code()
    {
        var e = Assert.Throws<CommunicatorAbortedException>(() => ThreadCommunicator.Run(3, comm =>
        {
            if (comm.Rank == 1) comm.Abort(7, "giving up");
            comm.Barrier();
            comm.Barrier();
        }));
        Assert.That((e!.Rank, e.ExitCode, e.Reason), Is.EqualTo((1, 7, "giving up")));
    }

    [Test]
    public void Different_collectives_on_different_ranks_are_reported_not_hung()
    {
        Assert.That(() => ThreadCommunicator.Run(2, comm =>
            {
                if (comm.Rank == 0) comm.Barrier();
                else comm.AllreduceSum(1);
            }),
            Throws.InvalidOperationException.With.Message.Contains("collective mismatch").And.Message.Contains("rank 1 called Allreduce<long>"));
    }

    [Test]
    public void Different_roots_are_reported()
    {
        Assert.That(() => ThreadCommunicator.Run(2, comm => comm.Bcast(new byte[4].AsSpan(), root: comm.Rank)),
            Throws.InvalidOperationException.With.Message.Contains("rank 0 called Bcast(root 0), rank 1 called Bcast(root 1)"));
    }

    [Test]
    public void A_rank_returning_while_others_wait_in_a_collective_is_reported()
    {
        Assert.That(() => ThreadCommunicator.Run(3, comm =>
            {
                if (comm.Rank != 2) comm.Barrier();
            }),
            Throws.InvalidOperationException.With.Message.Contains("already returned"));
    }

    [Test]
    public void Bcast_buffers_of_different_lengths_are_rejected_on_every_rank()
    {
        Assert.That(() => ThreadCommunicator.Run(2, comm => comm.Bcast(new byte[4 + comm.Rank].AsSpan(), 0)),
            Throws.ArgumentException.With.Message.Contains("rank 1 passes a 5-byte buffer but rank 0 passes 4 bytes"));
    }

    [Test]
    public void Alltoallv_counts_that_disagree_between_sender_and_receiver_are_rejected()
    {
        Assert.That(() => ThreadCommunicator.Run(2, comm =>
            {
                byte* b = stackalloc byte[16];
                var buffer = new NativeBuffer(b, 16);
                long[] send = [4, 4], receive = [comm.Rank == 1 ? 3 : 4, 4], displacements = [0, 8];
                comm.Alltoallv(buffer, send, displacements, buffer, receive, displacements);
            }),
            Throws.ArgumentException.With.Message.Contains("rank 0 sends 4 bytes to rank 1, which expects 3"));
    }

    [Test]
    public void Gatherv_block_outside_the_receive_buffer_is_rejected()
    {
        Assert.That(() => ThreadCommunicator.Run(2, comm =>
            {
                byte[] send = new byte[4], receive = new byte[comm.Rank == 0 ? 6 : 0];
                fixed (byte* s = send)
                fixed (byte* r = receive)
                    comm.Gatherv(new NativeBuffer(s, 4), new NativeBuffer(r, receive.Length), [4, 4], [0, 4], 0);
            }),
            Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contains("outside its 6-byte receive buffer"));
    }

    [Test]
    public void Sum_reduction_is_in_rank_order_so_floating_point_results_are_identical_every_run()
    {
        double Sum() => ThreadCommunicator.Run(7, comm =>
        {
            double[] r = new double[1];
            comm.Allreduce([Math.Pow(10, comm.Rank % 3 * 8) / 3], r, ReduceOp.Sum);
            return r[0];
        })[0];
        double first = Sum();
        for (int i = 0; i < 5; i++) Assert.That(Sum(), Is.EqualTo(first));
        Assert.That(first, Is.EqualTo(((((((1.0 / 3 + 1e8 / 3) + 1e16 / 3) + 1.0 / 3) + 1e8 / 3) + 1e16 / 3) + 1.0 / 3)));
    }

    [Test]
    public void A_deadlocked_world_times_out_naming_where_each_rank_waits()
    {
        Assert.That(() => ThreadCommunicator.Run(2, comm =>
            {
                if (comm.Rank == 0) comm.Barrier();
                else Thread.Sleep(3000);
                comm.Barrier();
            }, TimeSpan.FromMilliseconds(500)),
            Throws.TypeOf<TimeoutException>().With.Message.Contains("rank 0: waiting in Barrier").And.Message.Contains("rank 1: running"));
    }
}
