using Ckptmpi.Parallel.Threads;

namespace Ckptmpi.Parallel;

// The two-barrier protocol of every collective, and the argument checks. Checks run on every rank over all
// ranks' contributions, so every rank reaches the same verdict and throws the same message (no rank is left
// waiting for one that gave up).
public sealed partial class ThreadCommunicator
{
    /// <summary>
    /// Publish this rank's contribution, wait for all, check that everyone called the same thing with consistent
    /// arguments, move the data this rank is owed, and wait again so that no rank reuses a buffer a peer still reads.
    /// </summary>
    private void Collective(Contribution mine, Action<Contribution[]> check, Action<Contribution[]> move)
    {
        if (mine.Root >= Size || (mine.Root < 0 && mine.Operation is "Bcast" or "Gatherv" or "Scatterv"))
            throw new ArgumentOutOfRangeException("root", mine.Root, $"{mine.Operation}: root must be a rank in [0, {Size})");
        _world.Slots[Rank] = mine;
        _world.Arrive(Rank, mine.ToString());
        Contribution[] all = _world.Slots;
        for (int r = 0; r < Size; r++)
        {
            if (all[r].Operation != mine.Operation || all[r].Root != mine.Root)
                throw new InvalidOperationException(
                    $"collective mismatch: {string.Join(", ", all.Select((c, i) => $"rank {i} called {c}"))}; every rank must call the same collectives in the same order");
        }
        check(all);
        move(all);
        _world.Arrive(Rank, mine + " (completing)");
    }

    private void CheckEqualLengths(string operation, Contribution[] all, Func<Contribution, long> length, string what)
    {
        for (int r = 1; r < Size; r++)
        {
            if (length(all[r]) != length(all[0]))
                throw new ArgumentException($"{operation}: rank {r} passes a {length(all[r])}-byte {what} but rank 0 passes {length(all[0])} bytes");
        }
    }

    private void CheckReduction(Contribution[] all, Func<Contribution, int> count)
    {
        for (int r = 0; r < Size; r++)
        {
            if (all[r].ReduceOp != all[0].ReduceOp)
                throw new ArgumentException($"Allreduce: rank {r} reduces with {all[r].ReduceOp} but rank 0 with {all[0].ReduceOp}");
            if (count(all[r]) != count(all[0]))
                throw new ArgumentException($"Allreduce: rank {r} contributes {count(all[r])} values but rank 0 contributes {count(all[0])}");
            if (all[r].Receive.Length != count(all[r]))
                throw new ArgumentException($"Allreduce: rank {r} receives into {all[r].Receive.Length} values but sends {count(all[r])}");
        }
    }

    private void CheckBlocks(string operation, int rank, long[] counts, long[] displacements, long bufferLength, string side)
    {
        if (counts.Length != Size || displacements.Length != Size)
            throw new ArgumentException($"{operation}: rank {rank} passes {counts.Length} {side} counts and {displacements.Length} displacements for {Size} ranks");
        for (int r = 0; r < Size; r++)
        {
            if (counts[r] < 0 || displacements[r] < 0 || displacements[r] > bufferLength - counts[r])
                throw new ArgumentOutOfRangeException(nameof(counts),
                    $"{operation}: rank {rank}'s {side} block for rank {r} (displacement {displacements[r]}, count {counts[r]}) lies outside its {bufferLength}-byte {side} buffer");
        }
    }

    private static long Reduce(long a, long b, ReduceOp op) => op switch
    {
        ReduceOp.Sum => checked(a + b),
        ReduceOp.Max => Math.Max(a, b),
        ReduceOp.Min => Math.Min(a, b),
        _ => throw new ArgumentOutOfRangeException(nameof(op), op, null),
    };

    private static double Reduce(double a, double b, ReduceOp op) => op switch
    {
        ReduceOp.Sum => a + b,
        ReduceOp.Max => Math.Max(a, b),
        ReduceOp.Min => Math.Min(a, b),
        _ => throw new ArgumentOutOfRangeException(nameof(op), op, null),
    };
}
