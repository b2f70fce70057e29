using System.Diagnostics.CodeAnalysis;

namespace Ckptmpi.Parallel;

/// <summary>
/// The collectives ckptmpi needs, with 64-bit sizes. Implemented by <c>MpiCommunicator</c> (the system libmpi),
/// <c>ThreadCommunicator</c> (ranks as threads, for tests) and <c>SelfCommunicator</c> (one plain process).
/// Every rank must call every collective in the same order. Counts and displacements are in bytes.
/// </summary>
public interface ICommunicator : IDisposable
{
    int Rank { get; }

    int Size { get; }

    /// <summary>What this is, for logs: "MPICH 4.0.2", "Open MPI v4.1.4", "threads(4)", "single process".</summary>
    string Implementation { get; }

    void Barrier();

    /// <summary>Broadcasts <paramref name="buffer"/> from <paramref name="root"/>; every rank passes a buffer of the same length.</summary>
    void Bcast(NativeBuffer buffer, int root);

    void Allreduce(ReadOnlySpan<long> send, Span<long> receive, ReduceOp op);

    void Allreduce(ReadOnlySpan<double> send, Span<double> receive, ReduceOp op);

    /// <summary>Every rank contributes <paramref name="send"/> (all the same length); <paramref name="receive"/> is Size times that, in rank order.</summary>
    void Allgather(NativeBuffer send, NativeBuffer receive);

    /// <summary>Gathers variable-sized blocks to <paramref name="root"/>. counts/displacements only matter at the root.</summary>
    void Gatherv(NativeBuffer send, NativeBuffer receive, ReadOnlySpan<long> counts, ReadOnlySpan<long> displacements, int root);

    /// <summary>Scatters variable-sized blocks from <paramref name="root"/>. counts/displacements only matter at the root.</summary>
    void Scatterv(NativeBuffer send, ReadOnlySpan<long> counts, ReadOnlySpan<long> displacements, NativeBuffer receive, int root);

    /// <summary>Each rank sends sendCounts[r] bytes at sendDisplacements[r] to rank r and receives receiveCounts[r] bytes from rank r at receiveDisplacements[r].</summary>
    void Alltoallv(NativeBuffer send, ReadOnlySpan<long> sendCounts, ReadOnlySpan<long> sendDisplacements,
                   NativeBuffer receive, ReadOnlySpan<long> receiveCounts, ReadOnlySpan<long> receiveDisplacements);

    /// <summary>Ends the whole job now with <paramref name="exitCode"/> on every rank.</summary>
    [DoesNotReturn]
    void Abort(int exitCode, string reason);
}
