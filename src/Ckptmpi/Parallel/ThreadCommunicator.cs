using System.Diagnostics.CodeAnalysis;
using System.Runtime.ExceptionServices;
using Ckptmpi.Parallel.Threads;

namespace Ckptmpi.Parallel;

/// <summary>
/// An in-process world: each rank is a thread running the same body, with the same <see cref="ICommunicator"/>
/// semantics as MPI, so multi-rank logic is tested without mpiexec. Stricter than MPI where MPI is lax: every
/// rank must call the same collective with the same root, and every count must match its peer's (MPI would
/// truncate or fail later). Reductions fold in rank order, so results are deterministic.
/// </summary>
/// <example><code>
/// long[] sums = ThreadCommunicator.Run(4, comm => comm.AllreduceSum(comm.Rank)); // [6, 6, 6, 6]
/// </code></example>
public sealed unsafe partial class ThreadCommunicator : ICommunicator, IOutcomeAgreement
{
    /// <summary>How long a world may run before its waits fail with a <see cref="TimeoutException"/> naming where each rank is.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromMinutes(5);

    private readonly ThreadWorld _world;

    private ThreadCommunicator(ThreadWorld world, int rank)
    {
        _world = world;
        Rank = rank;
    }

    public int Rank { get; }

    public int Size => _world.Size;

    public string Implementation => $"threads({Size})";

    /// <summary>
    /// Runs <paramref name="body"/> on <paramref name="size"/> ranks (threads) and waits for all of them.
    /// </summary>
    /// <exception cref="CommunicatorAbortedException">A rank called <see cref="Abort"/>.</exception>
    /// <exception cref="TimeoutException">The world ran past <paramref name="timeout"/> (default <see cref="DefaultTimeout"/>).</exception>
    /// <remarks>If a rank aborted, its <see cref="CommunicatorAbortedException"/> is rethrown. Otherwise, if ranks throw, the exception of the lowest failing rank is rethrown with its original stack trace;
    /// ranks that were only stopped because of it are not reported. A rank returning while others still wait in
    /// a collective is reported as an <see cref="InvalidOperationException"/>.</remarks>
    public static void Run(int size, Action<ICommunicator> body, TimeSpan? timeout = null) =>
        Run<bool>(size, comm => { body(comm); return true; }, timeout);

    /// <summary>Runs <paramref name="body"/> on <paramref name="size"/> ranks and returns each rank's result, indexed by rank.</summary>
    public static T[] Run<T>(int size, Func<ICommunicator, T> body, TimeSpan? timeout = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 1);
        ArgumentNullException.ThrowIfNull(body);
        var world = new ThreadWorld(size, timeout ?? DefaultTimeout);
        var results = new T[size];
        var errors = new Exception?[size];
        var threads = new Thread[size];
        for (int r = 0; r < size; r++)
        {
            int rank = r;
            threads[r] = new Thread(() =>
            {
                try
                {
                    using var comm = new ThreadCommunicator(world, rank);
                    results[rank] = body(comm);
                    world.MarkReturned(rank);
                }
                catch (Exception e)
                {
                    errors[rank] = e;
                    world.Fail(e);
                }
            })
            { Name = $"rank {rank}/{size}", IsBackground = true };
        }

        foreach (Thread t in threads) t.Start();
        foreach (Thread t in threads) t.Join();

        // An abort ends everything, so it is the reason even if stopped ranks then failed on their own account.
        Exception? first = world.Failure as CommunicatorAbortedException
                           ?? errors.FirstOrDefault(e => e is not null and not WorldStoppedException)
                           ?? world.Failure
                           ?? errors.FirstOrDefault(e => e is not null);
        if (first is not null) ExceptionDispatchInfo.Capture(first).Throw();
        return results;
    }

    public void Barrier() => Collective(new Contribution("Barrier"), _ => { }, _ => { });

    public unsafe void Bcast(NativeBuffer buffer, int root) =>
        Collective(new Contribution("Bcast", root, Receive: buffer),
            all => CheckEqualLengths("Bcast", all, c => c.Receive.Length, "buffer"),
            all =>
            {
                if (Rank != root) Buffer.MemoryCopy(all[root].Receive.Pointer, buffer.Pointer, buffer.Length, buffer.Length);
            });

    public void Allreduce(ReadOnlySpan<long> send, Span<long> receive, ReduceOp op)
    {
        long[] result = new long[send.Length];
        Collective(new Contribution("Allreduce<long>", Longs: send.ToArray(), Receive: new NativeBuffer(null, receive.Length), ReduceOp: op),
            all => CheckReduction(all, c => c.Longs!.Length),
            all =>
            {
                all[0].Longs!.CopyTo(result, 0);
                for (int r = 1; r < Size; r++)
                {
                    long[] x = all[r].Longs!;
                    for (int i = 0; i < result.Length; i++) result[i] = Reduce(result[i], x[i], op);
                }
            });
        result.CopyTo(receive);
    }

    public void Allreduce(ReadOnlySpan<double> send, Span<double> receive, ReduceOp op)
    {
        double[] result = new double[send.Length];
        Collective(new Contribution("Allreduce<double>", Doubles: send.ToArray(), Receive: new NativeBuffer(null, receive.Length), ReduceOp: op),
            all => CheckReduction(all, c => c.Doubles!.Length),
            all =>
            {
                all[0].Doubles!.CopyTo(result, 0);
                for (int r = 1; r < Size; r++)
                {
                    double[] x = all[r].Doubles!;
                    for (int i = 0; i < result.Length; i++) result[i] = Reduce(result[i], x[i], op);
                }
            });
        result.CopyTo(receive);
    }

    public unsafe void Allgather(NativeBuffer send, NativeBuffer receive) =>
        Collective(new Contribution("Allgather", Send: send, Receive: receive),
            all =>
            {
                CheckEqualLengths("Allgather", all, c => c.Send.Length, "send buffer");
                for (int r = 0; r < Size; r++)
                {
                    if (all[r].Receive.Length != all[r].Send.Length * Size)
                        throw new ArgumentException($"Allgather: rank {r} receives into {all[r].Receive.Length} bytes but {Size} ranks x {all[r].Send.Length} bytes = {all[r].Send.Length * Size}");
                }
            },
            all =>
            {
                for (int r = 0; r < Size; r++)
                    Buffer.MemoryCopy(all[r].Send.Pointer, receive.Pointer + r * send.Length, send.Length, send.Length);
            });

    public unsafe void Gatherv(NativeBuffer send, NativeBuffer receive, ReadOnlySpan<long> counts, ReadOnlySpan<long> displacements, int root) =>
        Collective(new Contribution("Gatherv", root, send, receive,
                       Rank == root ? counts.ToArray() : null, Rank == root ? displacements.ToArray() : null),
            all =>
            {
                Contribution at = all[root];
                CheckBlocks("Gatherv", root, at.SendCounts!, at.SendDisplacements!, at.Receive.Length, "receive");
                for (int r = 0; r < Size; r++)
                {
                    if (at.SendCounts![r] != all[r].Send.Length)
                        throw new ArgumentException($"Gatherv: root {root} expects {at.SendCounts[r]} bytes from rank {r}, which sends {all[r].Send.Length}");
                }
            },
            all =>
            {
                if (Rank != root) return;
                for (int r = 0; r < Size; r++)
                    Buffer.MemoryCopy(all[r].Send.Pointer, receive.Pointer + all[root].SendDisplacements![r], all[r].Send.Length, all[r].Send.Length);
            });

    public unsafe void Scatterv(NativeBuffer send, ReadOnlySpan<long> counts, ReadOnlySpan<long> displacements, NativeBuffer receive, int root) =>
        Collective(new Contribution("Scatterv", root, send, receive,
                       Rank == root ? counts.ToArray() : null, Rank == root ? displacements.ToArray() : null),
            all =>
            {
                Contribution at = all[root];
                CheckBlocks("Scatterv", root, at.SendCounts!, at.SendDisplacements!, at.Send.Length, "send");
                for (int r = 0; r < Size; r++)
                {
                    if (at.SendCounts![r] != all[r].Receive.Length)
                        throw new ArgumentException($"Scatterv: root {root} sends {at.SendCounts[r]} bytes to rank {r}, which receives into {all[r].Receive.Length}");
                }
            },
            all =>
            {
                Contribution at = all[root];
                Buffer.MemoryCopy(at.Send.Pointer + at.SendDisplacements![Rank], receive.Pointer, receive.Length, receive.Length);
            });

    public unsafe void Alltoallv(NativeBuffer send, ReadOnlySpan<long> sendCounts, ReadOnlySpan<long> sendDisplacements,
                                 NativeBuffer receive, ReadOnlySpan<long> receiveCounts, ReadOnlySpan<long> receiveDisplacements) =>
        Collective(new Contribution("Alltoallv", -1, send, receive,
                       sendCounts.ToArray(), sendDisplacements.ToArray(), receiveCounts.ToArray(), receiveDisplacements.ToArray()),
            all =>
            {
                for (int r = 0; r < Size; r++)
                {
                    CheckBlocks("Alltoallv", r, all[r].SendCounts!, all[r].SendDisplacements!, all[r].Send.Length, "send");
                    CheckBlocks("Alltoallv", r, all[r].ReceiveCounts!, all[r].ReceiveDisplacements!, all[r].Receive.Length, "receive");
                }
                for (int from = 0; from < Size; from++)
                for (int to = 0; to < Size; to++)
                {
                    if (all[from].SendCounts![to] != all[to].ReceiveCounts![from])
                        throw new ArgumentException($"Alltoallv: rank {from} sends {all[from].SendCounts![to]} bytes to rank {to}, which expects {all[to].ReceiveCounts![from]}");
                }
            },
            all =>
            {
                for (int from = 0; from < Size; from++)
                {
                    long n = all[Rank].ReceiveCounts![from];
                    Buffer.MemoryCopy(all[from].Send.Pointer + all[from].SendDisplacements![Rank], receive.Pointer + all[Rank].ReceiveDisplacements![from], n, n);
                }
            });

    public bool TryAgreeOnOutcome(JobOutcome? failure, TimeSpan failedRankWait, out JobOutcome? agreed) =>
        _world.Agree(Rank, failure, failedRankWait, out agreed);

    /// <summary>Stops every rank of the world; <see cref="Run(int, Action{ICommunicator}, TimeSpan?)"/> throws <see cref="CommunicatorAbortedException"/>.</summary>
    [DoesNotReturn]
    public void Abort(int exitCode, string reason)
    {
        var e = new CommunicatorAbortedException(Rank, exitCode, reason);
        _world.Fail(e);
        throw e;
    }

    public void Dispose() { }
}
