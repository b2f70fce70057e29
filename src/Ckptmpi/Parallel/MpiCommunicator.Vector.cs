using Ckptmpi.Parallel.Native;

namespace Ckptmpi.Parallel;

// The *v collectives, whose counts and displacements are C ints in MPI_BYTE units.
// Each call first agrees on one path for all ranks (only the root knows every count of a Gatherv): the direct
// call when everything fits in an int, else the MPI-4 _c call when exported, else chunked point-to-point.
// Invalid arguments are part of that agreement, so every rank throws instead of one rank leaving the others
// blocked in the collective.
public sealed unsafe partial class MpiCommunicator
{
    /// <summary>Tag of the point-to-point fallback messages (collectives have their own matching context).</summary>
    private const int FallbackTag = 0x636b;

    private enum VectorPath { Direct = 0, LargeCount = 1, PointToPoint = 2, Invalid = 3 }

    private readonly long[] _pathCounts = new long[3];

    /// <summary>How many *v collectives took each path (direct int call, MPI-4 _c call, chunked point-to-point), for the self-test.</summary>
    public (long Direct, long LargeCount, long PointToPoint) VectorPathCounts => (_pathCounts[0], _pathCounts[1], _pathCounts[2]);

    public void Gatherv(NativeBuffer send, NativeBuffer receive, ReadOnlySpan<long> counts, ReadOnlySpan<long> displacements, int root)
    {
        CheckRank(root);
        string? problem = Rank == root ? CheckBlocks("Gatherv", counts, displacements, receive.Length, "receive") : null;
        if (problem is null && Rank == root && counts[root] != send.Length)
            problem = $"Gatherv: the root expects {counts[root]} bytes from itself but sends {send.Length}";
        VectorPath path = AgreeFromRoot(Rank == root ? Choose(problem, counts, displacements) : VectorPath.Direct, root, problem, "Gatherv");
        _pathCounts[(int)path]++;
        switch (path)
        {
            case VectorPath.Direct:
                int[] c = Narrow(Rank == root ? counts : default), d = Narrow(Rank == root ? displacements : default);
                fixed (int* pc = c)
                fixed (int* pd = d)
                {
                    int rc, n = checked((int)send.Length);
                    using (Enter("MPI_Gatherv")) rc = LibMpi.MPI_Gatherv(send.Pointer, n, _abi.Byte, receive.Pointer, pc, pd, _abi.Byte, root, _world);
                    Check(rc, "MPI_Gatherv");
                }
                break;
            case VectorPath.LargeCount:
                fixed (long* pc = counts)
                fixed (long* pd = displacements)
                {
                    int rc;
                    using (Enter("MPI_Gatherv_c")) rc = _library.LargeCount.MPI_Gatherv_c(send.Pointer, send.Length, _abi.Byte, receive.Pointer, pc, pd, _abi.Byte, root, _world);
                    Check(rc, "MPI_Gatherv_c");
                }
                break;
            default:
                if (Rank != root)
                {
                    SendChunks(send, root);
                    break;
                }
                Buffer.MemoryCopy(send.Pointer, receive.Pointer + displacements[root], send.Length, send.Length);
                for (int r = 0; r < Size; r++)
                {
                    if (r != root) ReceiveChunks(receive.Slice(displacements[r], counts[r]), r);
                }
                break;
        }
    }

    public void Scatterv(NativeBuffer send, ReadOnlySpan<long> counts, ReadOnlySpan<long> displacements, NativeBuffer receive, int root)
    {
        CheckRank(root);
        string? problem = Rank == root ? CheckBlocks("Scatterv", counts, displacements, send.Length, "send") : null;
        if (problem is null && Rank == root && counts[root] != receive.Length)
            problem = $"Scatterv: the root sends {counts[root]} bytes to itself but receives into {receive.Length}";
        VectorPath path = AgreeFromRoot(Rank == root ? Choose(problem, counts, displacements) : VectorPath.Direct, root, problem, "Scatterv");
        _pathCounts[(int)path]++;
        switch (path)
        {
            case VectorPath.Direct:
                int[] c = Narrow(Rank == root ? counts : default), d = Narrow(Rank == root ? displacements : default);
                fixed (int* pc = c)
                fixed (int* pd = d)
                {
                    int rc, n = checked((int)receive.Length);
                    using (Enter("MPI_Scatterv")) rc = LibMpi.MPI_Scatterv(send.Pointer, pc, pd, _abi.Byte, receive.Pointer, n, _abi.Byte, root, _world);
                    Check(rc, "MPI_Scatterv");
                }
                break;
            case VectorPath.LargeCount:
                fixed (long* pc = counts)
                fixed (long* pd = displacements)
                {
                    int rc;
                    using (Enter("MPI_Scatterv_c")) rc = _library.LargeCount.MPI_Scatterv_c(send.Pointer, pc, pd, _abi.Byte, receive.Pointer, receive.Length, _abi.Byte, root, _world);
                    Check(rc, "MPI_Scatterv_c");
                }
                break;
            default:
                if (Rank != root)
                {
                    ReceiveChunks(receive, root);
                    break;
                }
                Buffer.MemoryCopy(send.Pointer + displacements[root], receive.Pointer, receive.Length, receive.Length);
                for (int r = 0; r < Size; r++)
                {
                    if (r != root) SendChunks(send.Slice(displacements[r], counts[r]), r);
                }
                break;
        }
    }

    public void Alltoallv(NativeBuffer send, ReadOnlySpan<long> sendCounts, ReadOnlySpan<long> sendDisplacements,
                          NativeBuffer receive, ReadOnlySpan<long> receiveCounts, ReadOnlySpan<long> receiveDisplacements)
    {
        string? problem = CheckBlocks("Alltoallv", sendCounts, sendDisplacements, send.Length, "send")
                          ?? CheckBlocks("Alltoallv", receiveCounts, receiveDisplacements, receive.Length, "receive");
        VectorPath mine = problem is not null ? VectorPath.Invalid
            : (VectorPath)Math.Max((int)Choose(null, sendCounts, sendDisplacements), (int)Choose(null, receiveCounts, receiveDisplacements));
        var path = (VectorPath)this.AllreduceMax((long)mine);
        if (path == VectorPath.Invalid)
            throw new ArgumentException(problem ?? "Alltoallv: another rank passed invalid counts or displacements (see its error)");
        _pathCounts[(int)path]++;
        switch (path)
        {
            case VectorPath.Direct:
                int[] sc = Narrow(sendCounts), sd = Narrow(sendDisplacements), rc = Narrow(receiveCounts), rd = Narrow(receiveDisplacements);
                fixed (int* psc = sc)
                fixed (int* psd = sd)
                fixed (int* prc = rc)
                fixed (int* prd = rd)
                {
                    int result;
                    using (Enter("MPI_Alltoallv")) result = LibMpi.MPI_Alltoallv(send.Pointer, psc, psd, _abi.Byte, receive.Pointer, prc, prd, _abi.Byte, _world);
                    Check(result, "MPI_Alltoallv");
                }
                break;
            case VectorPath.LargeCount:
                fixed (long* psc = sendCounts)
                fixed (long* psd = sendDisplacements)
                fixed (long* prc = receiveCounts)
                fixed (long* prd = receiveDisplacements)
                {
                    int result;
                    using (Enter("MPI_Alltoallv_c")) result = _library.LargeCount.MPI_Alltoallv_c(send.Pointer, psc, psd, _abi.Byte, receive.Pointer, prc, prd, _abi.Byte, _world);
                    Check(result, "MPI_Alltoallv_c");
                }
                break;
            default:
                // Pairwise exchange: in step k send to rank+k and receive from rank-k, so each pair of ranks meets
                // in exactly one step and Sendrecv never deadlocks (a blocking send can wait for its receive once past the eager size).
                long own = receiveCounts[Rank];
                if (own != sendCounts[Rank]) throw new ArgumentException($"Alltoallv: rank {Rank} sends {sendCounts[Rank]} bytes to itself but expects {own}");
                Buffer.MemoryCopy(send.Pointer + sendDisplacements[Rank], receive.Pointer + receiveDisplacements[Rank], own, own);
                for (int k = 1; k < Size; k++)
                {
                    int to = (Rank + k) % Size, from = (Rank - k + Size) % Size;
                    SendReceiveChunks(send.Slice(sendDisplacements[to], sendCounts[to]), to, receive.Slice(receiveDisplacements[from], receiveCounts[from]), from);
                }
                break;
        }
    }

    /// <summary>The cheapest path that can carry these counts on this library, or Invalid when <paramref name="problem"/> is set.</summary>
    private VectorPath Choose(string? problem, ReadOnlySpan<long> counts, ReadOnlySpan<long> displacements)
    {
        if (problem is not null) return VectorPath.Invalid;
        foreach (long v in counts) if (v > _options.IntLimit) return Large();
        foreach (long v in displacements) if (v > _options.IntLimit) return Large();
        return VectorPath.Direct;

        VectorPath Large() => _library.LargeCount.Available ? VectorPath.LargeCount : VectorPath.PointToPoint;
    }

    /// <summary>Broadcasts the root's choice so every rank takes the same path; throws on every rank if the root's arguments are invalid.</summary>
    private VectorPath AgreeFromRoot(VectorPath atRoot, int root, string? problem, string operation)
    {
        long value = (long)atRoot;
        Bcast(new NativeBuffer((byte*)&value, sizeof(long)), root);
        if ((VectorPath)value == VectorPath.Invalid)
            throw new ArgumentException(problem ?? $"{operation}: root {root} passed invalid counts or displacements (see its error)");
        return (VectorPath)value;
    }

    private string? CheckBlocks(string operation, ReadOnlySpan<long> counts, ReadOnlySpan<long> displacements, long bufferLength, string side)
    {
        if (counts.Length != Size || displacements.Length != Size)
            return $"{operation}: {counts.Length} {side} counts and {displacements.Length} displacements for {Size} ranks";
        for (int r = 0; r < Size; r++)
        {
            if (counts[r] < 0 || displacements[r] < 0 || displacements[r] > bufferLength - counts[r])
                return $"{operation}: rank {Rank}'s {side} block for rank {r} (displacement {displacements[r]}, count {counts[r]}) lies outside its {bufferLength}-byte {side} buffer";
        }
        return null;
    }

    private static int[] Narrow(ReadOnlySpan<long> values)
    {
        int[] result = new int[values.Length];
        for (int i = 0; i < values.Length; i++) result[i] = checked((int)values[i]);
        return result;
    }

    private void SendChunks(NativeBuffer buffer, int destination)
    {
        for (long offset = 0; offset < buffer.Length; offset += _options.ChunkBytes)
        {
            int n = ChunkAt(offset, buffer.Length), rc;
            using (Enter("MPI_Send")) rc = LibMpi.MPI_Send(buffer.Pointer + offset, n, _abi.Byte, destination, FallbackTag, _world);
            Check(rc, "MPI_Send");
        }
    }

    private void ReceiveChunks(NativeBuffer buffer, int source)
    {
        for (long offset = 0; offset < buffer.Length; offset += _options.ChunkBytes)
        {
            int n = ChunkAt(offset, buffer.Length), rc;
            using (Enter("MPI_Recv")) rc = LibMpi.MPI_Recv(buffer.Pointer + offset, n, _abi.Byte, source, FallbackTag, _world, (void*)_abi.StatusIgnore);
            Check(rc, "MPI_Recv");
        }
    }

    /// <summary>
    /// Sends <paramref name="send"/> to one rank while receiving <paramref name="receive"/> from another, chunk by
    /// chunk. Each side sends exactly as many messages as its own chunk count; once one side runs out its peer is
    /// MPI_PROC_NULL, so no empty message is ever sent that the other rank would not expect.
    /// </summary>
    private void SendReceiveChunks(NativeBuffer send, int to, NativeBuffer receive, int from)
    {
        long chunk = _options.ChunkBytes;
        long sendChunks = (send.Length + chunk - 1) / chunk, receiveChunks = (receive.Length + chunk - 1) / chunk;
        for (long i = 0; i < Math.Max(sendChunks, receiveChunks); i++)
        {
            long offset = i * chunk;
            bool sending = i < sendChunks, receiving = i < receiveChunks;
            int sn = sending ? ChunkAt(offset, send.Length) : 0, rn = receiving ? ChunkAt(offset, receive.Length) : 0, rc;
            byte* sp = sending ? send.Pointer + offset : send.Pointer, rp = receiving ? receive.Pointer + offset : receive.Pointer;
            using (Enter("MPI_Sendrecv"))
            {
                rc = LibMpi.MPI_Sendrecv(sp, sn, _abi.Byte, sending ? to : _abi.ProcNull, FallbackTag,
                                         rp, rn, _abi.Byte, receiving ? from : _abi.ProcNull, FallbackTag, _world, (void*)_abi.StatusIgnore);
            }
            Check(rc, "MPI_Sendrecv");
        }
    }
}
