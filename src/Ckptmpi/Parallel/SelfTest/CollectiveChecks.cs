using Ckptmpi.Errors;

namespace Ckptmpi.Parallel.SelfTest;

/// <summary>
/// The collective conformance suite, written once and run against every
/// <see cref="ICommunicator"/>: SelfCommunicator and ThreadCommunicator from NUnit, MpiCommunicator through
/// <c>ckptmpi mpi-selftest</c> under mpiexec with both MPI families. Sizes are chosen so that uneven, zero and
/// multi-chunk blocks occur at every world size; data patterns depend on (sender, receiver, index) so a block
/// delivered to the wrong place or rank is caught.
/// </summary>
public static unsafe class CollectiveChecks
{
    /// <summary>Every check, in the order the self-test runs them.</summary>
    public static IReadOnlyList<CollectiveCheck> All { get; } =
    [
        new("Barrier", Barrier),
        new("Bcast from every root", BcastFromEveryRoot),
        new("Bcast of an empty buffer", BcastEmpty),
        new("Bcast of a multi-chunk buffer", BcastLarge),
        new("Allreduce long sum max min", AllreduceLong),
        new("Allreduce double sum max min", AllreduceDouble),
        new("Allreduce in place", AllreduceInPlace),
        new("Allreduce of a multi-chunk vector, in place and not", AllreduceLarge),
        new("Allgather", c => AllgatherWith(c, 3)),
        new("Allgather of multi-chunk blocks", c => AllgatherWith(c, 60_001)),
        new("Gatherv with uneven and zero counts", Gatherv),
        new("Gatherv of multi-chunk blocks", c => GathervWith(c, r => 60_000 + r * 7_001)),
        new("Scatterv with uneven and zero counts", Scatterv),
        new("Scatterv of multi-chunk blocks", c => ScattervWith(c, r => 70_000 + r * 5_003)),
        new("Alltoallv with uneven and zero counts", Alltoallv),
        new("Alltoallv of multi-chunk blocks", AlltoallvLarge),
        new("Object broadcast and allgather", Objects),
        new("Phase failure on one rank reaches every rank", PhaseFailure),
        new("Phase success returns each rank's value", PhaseSuccess),
    ];

    /// <summary>The byte rank <paramref name="from"/> sends to rank <paramref name="to"/> at index <paramref name="i"/>.</summary>
    public static byte Pattern(int from, int to, long i) => (byte)(from * 31 + to * 17 + i * 7 + (i >> 8) + 1);

    private static void Barrier(ICommunicator comm)
    {
        for (int i = 0; i < 3; i++) comm.Barrier();
        Expect(comm, comm.AllreduceSum(1) == comm.Size, "sum of ones after barriers equals the size");
    }

    private static void BcastFromEveryRoot(ICommunicator comm)
    {
        for (int root = 0; root < comm.Size; root++)
        {
            byte[] data = new byte[1000 + root];
            if (comm.Rank == root) Fill(data, root, -1);
            comm.Bcast(data.AsSpan(), root);
            ExpectPattern(comm, data, root, -1, $"Bcast from root {root}");
        }
    }

    private static void BcastEmpty(ICommunicator comm)
    {
        comm.Bcast(NativeBuffer.Empty, comm.Size - 1);
        comm.Bcast(Span<byte>.Empty, 0);
    }

    private static void BcastLarge(ICommunicator comm)
    {
        byte[] data = new byte[(1 << 20) + 13];
        int root = comm.Size / 2;
        if (comm.Rank == root) Fill(data, root, -1);
        comm.Bcast(data.AsSpan(), root);
        ExpectPattern(comm, data, root, -1, "1 MiB Bcast");
    }

    private static void AllreduceLong(ICommunicator comm)
    {
        long big = 1L << 40;
        long[] send = [comm.Rank + 1, big * (comm.Rank + 1), -comm.Rank];
        long[] sum = new long[3], max = new long[3], min = new long[3];
        comm.Allreduce(send, sum, ReduceOp.Sum);
        comm.Allreduce(send, max, ReduceOp.Max);
        comm.Allreduce(send, min, ReduceOp.Min);
        long n = comm.Size, triangle = n * (n + 1) / 2;
        ExpectEqual(comm, sum, [triangle, big * triangle, -(n - 1) * n / 2], "Allreduce Sum");
        ExpectEqual(comm, max, [n, big * n, 0], "Allreduce Max");
        ExpectEqual(comm, min, [1, big, -(n - 1)], "Allreduce Min");
    }

    private static void AllreduceDouble(ICommunicator comm)
    {
        // Halves are exact in binary, so the sum is exact in any reduction order.
        double[] send = [comm.Rank + 0.5, -comm.Rank * 2.0];
        double[] sum = new double[2], max = new double[2], min = new double[2];
        comm.Allreduce(send, sum, ReduceOp.Sum);
        comm.Allreduce(send, max, ReduceOp.Max);
        comm.Allreduce(send, min, ReduceOp.Min);
        int n = comm.Size;
        Expect(comm, sum[0] == n * (n - 1) / 2.0 + n * 0.5 && sum[1] == -(double)n * (n - 1), $"Allreduce<double> Sum gave [{sum[0]}, {sum[1]}]");
        Expect(comm, max[0] == n - 0.5 && max[1] == 0, $"Allreduce<double> Max gave [{max[0]}, {max[1]}]");
        Expect(comm, min[0] == 0.5 && min[1] == -(n - 1) * 2.0, $"Allreduce<double> Min gave [{min[0]}, {min[1]}]");
    }

    private static void AllreduceInPlace(ICommunicator comm)
    {
        long[] values = [comm.Rank, 10];
        comm.Allreduce(values, values, ReduceOp.Sum);
        long n = comm.Size;
        ExpectEqual(comm, values, [n * (n - 1) / 2, 10 * n], "Allreduce with the same span for send and receive");
    }

    private static void AllreduceLarge(ICommunicator comm)
    {
        const int n = 20_000; // 160 KB: several chunks when the self-test lowers the chunk size
        long[] send = new long[n], sum = new long[n];
        for (int i = 0; i < n; i++) send[i] = (long)i * (comm.Rank + 1);
        comm.Allreduce(send, sum, ReduceOp.Sum);
        comm.Allreduce(send, send, ReduceOp.Sum);
        long ranks = comm.Size * (comm.Size + 1L) / 2;
        for (int i = 0; i < n; i++)
        {
            if (sum[i] != i * ranks || send[i] != i * ranks)
                throw new CollectiveCheckFailedException($"rank {comm.Rank}: multi-chunk Allreduce element {i} is {sum[i]} / in place {send[i]}, expected {i * ranks}");
        }
    }

    private static void AllgatherWith(ICommunicator comm, int block)
    {
        byte[] mine = new byte[block];
        Fill(mine, comm.Rank, -1);
        byte[] all = new byte[block * comm.Size];
        fixed (byte* s = mine)
        fixed (byte* a = all)
            comm.Allgather(new NativeBuffer(s, block), new NativeBuffer(a, all.Length));
        for (int r = 0; r < comm.Size; r++)
            ExpectPattern(comm, all.AsSpan(r * block, block), r, -1, $"Allgather block of rank {r}");
    }

    private static void Gatherv(ICommunicator comm) => GathervWith(comm, r => r == 0 ? 0 : r * 5 + 3);

    private static void GathervWith(ICommunicator comm, Func<int, long> count)
    {
        int root = comm.Size - 1;
        long[] counts = Enumerable.Range(0, comm.Size).Select(count).ToArray();
        // Blocks in reverse rank order with a 2-byte gap, so displacements matter.
        long[] displacements = new long[comm.Size];
        long at = 0;
        for (int r = comm.Size - 1; r >= 0; r--) { displacements[r] = at; at += counts[r] + 2; }
        byte[] mine = new byte[counts[comm.Rank]];
        Fill(mine, comm.Rank, root);
        byte[] gathered = new byte[comm.Rank == root ? at : 0];
        fixed (byte* s = mine)
        fixed (byte* g = gathered)
            comm.Gatherv(new NativeBuffer(s, mine.Length), new NativeBuffer(g, gathered.Length), counts, displacements, root);
        if (comm.Rank != root) return;
        for (int r = 0; r < comm.Size; r++)
            ExpectPattern(comm, gathered.AsSpan((int)displacements[r], (int)counts[r]), r, root, $"Gatherv block of rank {r}");
    }

    private static void Scatterv(ICommunicator comm) => ScattervWith(comm, r => r % 3 == 1 ? 0 : r * 11 + 1);

    private static void ScattervWith(ICommunicator comm, Func<int, long> count)
    {
        const int root = 0;
        long[] counts = Enumerable.Range(0, comm.Size).Select(count).ToArray();
        long[] displacements = new long[comm.Size];
        long total = 0;
        for (int r = 0; r < comm.Size; r++) { displacements[r] = total + 1; total += counts[r] + 1; }
        byte[] send = new byte[comm.Rank == root ? total : 0];
        if (comm.Rank == root)
        {
            for (int r = 0; r < comm.Size; r++) Fill(send.AsSpan((int)displacements[r], (int)counts[r]), root, r);
        }
        byte[] mine = new byte[counts[comm.Rank]];
        fixed (byte* s = send)
        fixed (byte* m = mine)
            comm.Scatterv(new NativeBuffer(s, send.Length), counts, displacements, new NativeBuffer(m, mine.Length), root);
        ExpectPattern(comm, mine, root, comm.Rank, "Scatterv block");
    }

    private static void Alltoallv(ICommunicator comm) => AlltoallvWith(comm, (from, to) => (from * 7 + to * 3) % 5 * 9);

    private static void AlltoallvLarge(ICommunicator comm) => AlltoallvWith(comm, (from, to) => (from + 1) * 40_000 + to * 3_000 + (from == to ? 7 : 0));

    /// <summary>Rank f sends bytes(f, t) to rank t, blocks placed in reverse order to exercise displacements.</summary>
    private static void AlltoallvWith(ICommunicator comm, Func<int, int, long> bytes)
    {
        int n = comm.Size, me = comm.Rank;
        long[] sc = new long[n], sd = new long[n], rc = new long[n], rd = new long[n];
        long sendTotal = 0, receiveTotal = 0;
        for (int r = n - 1; r >= 0; r--)
        {
            sc[r] = bytes(me, r); sd[r] = sendTotal; sendTotal += sc[r];
            rc[r] = bytes(r, me); rd[r] = receiveTotal; receiveTotal += rc[r];
        }
        byte[] send = new byte[sendTotal];
        byte[] receive = new byte[receiveTotal];
        for (int r = 0; r < n; r++) Fill(send.AsSpan((int)sd[r], (int)sc[r]), me, r);
        fixed (byte* s = send)
        fixed (byte* d = receive)
            comm.Alltoallv(new NativeBuffer(s, sendTotal), sc, sd, new NativeBuffer(d, receiveTotal), rc, rd);
        for (int r = 0; r < n; r++)
            ExpectPattern(comm, receive.AsSpan((int)rd[r], (int)rc[r]), r, me, $"Alltoallv block from rank {r}");
    }

    private static void Objects(ICommunicator comm)
    {
        string[] fromRoot = comm.BcastObject(comm.Rank == 0 ? new[] { "model.safetensors", "ünïcode" } : null, 0);
        Expect(comm, fromRoot is ["model.safetensors", "ünïcode"], $"BcastObject gave [{string.Join(", ", fromRoot)}]");
        string[] hosts = comm.AllgatherObjects($"rank-{comm.Rank}-" + new string('x', comm.Rank * 100));
        for (int r = 0; r < comm.Size; r++)
            Expect(comm, hosts[r] == $"rank-{r}-" + new string('x', r * 100), $"AllgatherObjects entry {r} was '{hosts[r]}'");
    }

    private static void PhaseFailure(ICommunicator comm)
    {
        int failing = comm.Size - 1;
        try
        {
            comm.RunPhase("self-test phase", () =>
            {
                if (comm.Rank == failing) throw new InvalidDataException("deliberate failure");
            });
        }
        catch (RankFailedException e)
        {
            Expect(comm, e.Rank == failing, $"RankFailedException names rank {e.Rank}, expected {failing}");
            Expect(comm, e.Message == $"rank {failing} failed: self-test phase: deliberate failure", $"RankFailedException message was '{e.Message}'");
            Expect(comm, e.ExitCode != 0, "RankFailedException carries a non-zero exit code");
            return;
        }
        throw new CollectiveCheckFailedException($"rank {comm.Rank}: RunPhase returned although rank {failing} threw");
    }

    private static void PhaseSuccess(ICommunicator comm)
    {
        int value = comm.RunPhase("self-test phase", () => comm.Rank * 2);
        Expect(comm, value == comm.Rank * 2, $"RunPhase returned {value}");
    }

    private static void Fill(Span<byte> span, int from, int to)
    {
        for (int i = 0; i < span.Length; i++) span[i] = Pattern(from, to, i);
    }

    private static void ExpectPattern(ICommunicator comm, ReadOnlySpan<byte> span, int from, int to, string what)
    {
        for (int i = 0; i < span.Length; i++)
        {
            if (span[i] != Pattern(from, to, i))
                throw new CollectiveCheckFailedException($"rank {comm.Rank}: {what}: byte {i} of {span.Length} is {span[i]}, expected {Pattern(from, to, i)}");
        }
    }

    private static void ExpectEqual(ICommunicator comm, long[] actual, long[] expected, string what) =>
        Expect(comm, actual.SequenceEqual(expected), $"{what} gave [{string.Join(", ", actual)}], expected [{string.Join(", ", expected)}]");

    private static void Expect(ICommunicator comm, bool condition, string what)
    {
        if (!condition) throw new CollectiveCheckFailedException($"rank {comm.Rank}: {what}");
    }
}
