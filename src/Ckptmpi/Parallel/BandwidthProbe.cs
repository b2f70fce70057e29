using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Ckptmpi.Parallel;

/// <summary>
/// A short collective bandwidth probe for <c>ckptmpi mpi-info</c>: Bcast of S
/// bytes from rank 0, and Alltoallv with S/size bytes per peer (S sent and S received per rank). Native buffers,
/// touched before timing; one warm-up, then the best of <see cref="Repeats"/>, each timed as the slowest rank.
/// </summary>
public static unsafe class BandwidthProbe
{
    public const int Repeats = 3;

    /// <summary>Bytes per second moved by each collective; the same on every rank.</summary>
    public sealed record Result(long Bytes, double BcastSeconds, double AlltoallvSeconds)
    {
        public double BcastGiBps => Bytes / BcastSeconds / (1L << 30);
        public double AlltoallvGiBps => Bytes / AlltoallvSeconds / (1L << 30);
    }

    public static Result Measure(ICommunicator comm, long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bytes, 1);
        long block = Math.Max(1, bytes / comm.Size), total = block * comm.Size;
        long size = Math.Max(bytes, total);
        byte* send = (byte*)NativeMemory.AlignedAlloc((nuint)size, 4096);
        byte* receive = (byte*)NativeMemory.AlignedAlloc((nuint)size, 4096);
        try
        {
            new Span<byte>(send, (int)Math.Min(size, int.MaxValue)).Fill(1);
            new Span<byte>(receive, (int)Math.Min(size, int.MaxValue)).Clear();
            var sendBuffer = new NativeBuffer(send, bytes);
            long[] counts = Enumerable.Repeat(block, comm.Size).ToArray();
            long[] displacements = Enumerable.Range(0, comm.Size).Select(r => r * block).ToArray();

            double bcast = Best(comm, () => comm.Bcast(sendBuffer, 0));
            double alltoallv = Best(comm, () => comm.Alltoallv(new NativeBuffer(send, total), counts, displacements,
                                                               new NativeBuffer(receive, total), counts, displacements));
            return new Result(bytes, bcast, alltoallv * bytes / total);
        }
        finally
        {
            NativeMemory.AlignedFree(send);
            NativeMemory.AlignedFree(receive);
        }
    }

    private static double Best(ICommunicator comm, Action collective)
    {
        collective(); // warm-up: connections, registration caches, page faults
        double best = double.MaxValue;
        double[] slowest = new double[1];
        for (int i = 0; i < Repeats; i++)
        {
            comm.Barrier();
            long start = Stopwatch.GetTimestamp();
            collective();
            comm.Allreduce([Stopwatch.GetElapsedTime(start).TotalSeconds], slowest, ReduceOp.Max);
            best = Math.Min(best, slowest[0]);
        }
        return Math.Max(best, 1e-9);
    }
}
