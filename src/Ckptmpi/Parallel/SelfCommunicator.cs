using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;

namespace Ckptmpi.Parallel;

/// <summary>
/// The communicator of one plain process (no launcher): every collective is a local copy. It never touches
/// libmpi, so ckptmpi runs on a laptop with no MPI installed.
/// </summary>
public sealed unsafe class SelfCommunicator : ICommunicator
{
    public int Rank => 0;
    public int Size => 1;
    public string Implementation => "single process";

    public void Barrier() { }

    public void Bcast(NativeBuffer buffer, int root) => CheckRoot(root);

    public void Allreduce(ReadOnlySpan<long> send, Span<long> receive, ReduceOp op) => send.CopyTo(receive);

    public void Allreduce(ReadOnlySpan<double> send, Span<double> receive, ReduceOp op) => send.CopyTo(receive);

    public void Allgather(NativeBuffer send, NativeBuffer receive) => Copy(send, receive, 0);

    public void Gatherv(NativeBuffer send, NativeBuffer receive, ReadOnlySpan<long> counts, ReadOnlySpan<long> displacements, int root)
    {
        CheckRoot(root);
        if (counts[0] != send.Length) throw new ArgumentException($"Gatherv: count {counts[0]} differs from the {send.Length} bytes sent");
        Copy(send, receive, displacements[0]);
    }

    public void Scatterv(NativeBuffer send, ReadOnlySpan<long> counts, ReadOnlySpan<long> displacements, NativeBuffer receive, int root)
    {
        CheckRoot(root);
        if (counts[0] != receive.Length) throw new ArgumentException($"Scatterv: count {counts[0]} differs from the {receive.Length}-byte receive buffer");
        Buffer.MemoryCopy(send.Pointer + displacements[0], receive.Pointer, receive.Length, counts[0]);
    }

    public void Alltoallv(NativeBuffer send, ReadOnlySpan<long> sendCounts, ReadOnlySpan<long> sendDisplacements,
                          NativeBuffer receive, ReadOnlySpan<long> receiveCounts, ReadOnlySpan<long> receiveDisplacements)
    {
        if (sendCounts[0] != receiveCounts[0]) throw new ArgumentException($"Alltoallv: send count {sendCounts[0]} differs from receive count {receiveCounts[0]}");
        Buffer.MemoryCopy(send.Pointer + sendDisplacements[0], receive.Pointer + receiveDisplacements[0], receive.Length - receiveDisplacements[0], sendCounts[0]);
    }

    [DoesNotReturn]
    public void Abort(int exitCode, string reason)
    {
        Console.Error.WriteLine($"ckptmpi: aborting: {reason}");
        Environment.Exit(exitCode);
        throw new UnreachableException();
    }

    public void Dispose() { }

    private static void Copy(NativeBuffer from, NativeBuffer to, long offset) =>
        Buffer.MemoryCopy(from.Pointer, to.Pointer + offset, to.Length - offset, from.Length);

    private static void CheckRoot(int root)
    {
        if (root != 0) throw new ArgumentOutOfRangeException(nameof(root), root, "the only rank of a single process is 0");
    }
}
