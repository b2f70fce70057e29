using System.Text.Json;

namespace Ckptmpi.Parallel;

/// <summary>
/// Convenience calls over <see cref="ICommunicator"/>: span overloads for small buffers, and object calls
/// (JSON-serialised) for metadata. Buffer calls keep MPI names; object calls say "Object".
/// </summary>
public static unsafe class CommunicatorExtensions
{
    public static void Bcast(this ICommunicator comm, Span<byte> buffer, int root)
    {
        fixed (byte* p = buffer) comm.Bcast(new NativeBuffer(p, buffer.Length), root);
    }

    /// <summary>Broadcasts a byte array of any length from <paramref name="root"/>; other ranks pass anything (ignored).</summary>
    public static byte[] BcastBytes(this ICommunicator comm, byte[]? bytes, int root)
    {
        Span<long> len = stackalloc long[1];
        if (comm.Rank == root) len[0] = bytes!.Length;
        fixed (long* p = len) comm.Bcast(new NativeBuffer((byte*)p, sizeof(long)), root);
        byte[] data = comm.Rank == root ? bytes! : new byte[len[0]];
        comm.Bcast(data.AsSpan(), root);
        return data;
    }

    public static T BcastObject<T>(this ICommunicator comm, T? value, int root)
    {
        byte[]? json = comm.Rank == root ? JsonSerializer.SerializeToUtf8Bytes(value) : null;
        byte[] data = comm.BcastBytes(json, root);
        return JsonSerializer.Deserialize<T>(data)!;
    }

    /// <summary>Every rank gets every rank's bytes, in rank order.</summary>
    public static byte[][] AllgatherBytes(this ICommunicator comm, ReadOnlySpan<byte> mine)
    {
        (long[] lengths, long[] displacements, long total) = ExchangeLengths(comm, mine.Length);
        byte[] all = new byte[total];
        fixed (byte* ps = mine)
        fixed (byte* pa = all)
        {
            comm.Gatherv(new NativeBuffer(ps, mine.Length), new NativeBuffer(pa, total), lengths, displacements, root: 0);
            comm.Bcast(new NativeBuffer(pa, total), root: 0);
        }
        return Split(all, lengths, displacements);
    }

    /// <summary>Rank <paramref name="root"/> gets every rank's bytes, in rank order; the other ranks get null.</summary>
    public static byte[][]? GatherBytes(this ICommunicator comm, ReadOnlySpan<byte> mine, int root = 0)
    {
        (long[] lengths, long[] displacements, long total) = ExchangeLengths(comm, mine.Length);
        byte[] all = new byte[comm.Rank == root ? total : 0];
        fixed (byte* ps = mine)
        fixed (byte* pa = all)
            comm.Gatherv(new NativeBuffer(ps, mine.Length), new NativeBuffer(pa, all.Length), lengths, displacements, root);
        return comm.Rank == root ? Split(all, lengths, displacements) : null;
    }

    /// <summary>Every rank's byte count (an allgather), and where each lands in the concatenation.</summary>
    private static (long[] Lengths, long[] Displacements, long Total) ExchangeLengths(ICommunicator comm, long myLength)
    {
        long[] lengths = new long[comm.Size];
        fixed (long* pl = lengths)
            comm.Allgather(new NativeBuffer((byte*)&myLength, sizeof(long)), new NativeBuffer((byte*)pl, (long)sizeof(long) * comm.Size));
        long[] displacements = new long[comm.Size];
        long total = 0;
        for (int r = 0; r < comm.Size; r++) { displacements[r] = total; total = checked(total + lengths[r]); }
        return (lengths, displacements, total);
    }

    private static byte[][] Split(byte[] all, long[] lengths, long[] displacements)
    {
        var result = new byte[lengths.Length][];
        for (int r = 0; r < lengths.Length; r++) result[r] = all.AsSpan((int)displacements[r], (int)lengths[r]).ToArray();
        return result;
    }

    public static T[] AllgatherObjects<T>(this ICommunicator comm, T value)
    {
        byte[][] parts = comm.AllgatherBytes(JsonSerializer.SerializeToUtf8Bytes(value));
        return parts.Select(p => JsonSerializer.Deserialize<T>(p)!).ToArray();
    }

    public static long AllreduceSum(this ICommunicator comm, long value)
    {
        Span<long> r = stackalloc long[1];
        comm.Allreduce([value], r, ReduceOp.Sum);
        return r[0];
    }

    public static long AllreduceMax(this ICommunicator comm, long value)
    {
        Span<long> r = stackalloc long[1];
        comm.Allreduce([value], r, ReduceOp.Max);
        return r[0];
    }

    public static long AllreduceMin(this ICommunicator comm, long value)
    {
        Span<long> r = stackalloc long[1];
        comm.Allreduce([value], r, ReduceOp.Min);
        return r[0];
    }
}
