using System.Diagnostics;
using System.Runtime.InteropServices;
using Serilog;

namespace Ckptmpi.Parallel.SelfTest;

/// <summary>
/// A message larger than any int count: Bcast of <c>bytes</c> from rank 0, then a
/// Gatherv of the same size from the last rank to rank 0 (count &gt; 2^31 forces the large-count or point-to-point
/// path). One native buffer per rank, reused by both steps; verified by a checksum of every 8-byte word.
/// </summary>
public static unsafe class LargeMessage
{
    public static void Check(ICommunicator comm, long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bytes, 8);
        byte* memory = (byte*)NativeMemory.AlignedAlloc((nuint)bytes, 4096);
        try
        {
            var buffer = new NativeBuffer(memory, bytes);
            var clock = Stopwatch.StartNew();
            if (comm.Rank == 0) Fill(buffer, seed: 1);
            Log.Debug("large message: filled in {Ms} ms", clock.ElapsedMilliseconds);
            comm.Bcast(buffer, root: 0);
            Log.Debug("large message: Bcast done at {Ms} ms", clock.ElapsedMilliseconds);
            Verify(comm, buffer, seed: 1, "Bcast");
            Log.Debug("large message: verified at {Ms} ms", clock.ElapsedMilliseconds);

            int sender = comm.Size - 1;
            if (sender == 0) return;
            long[] counts = new long[comm.Size], displacements = new long[comm.Size];
            counts[sender] = bytes;
            if (comm.Rank == sender) Fill(buffer, seed: 2);
            NativeBuffer send = comm.Rank == sender ? buffer : NativeBuffer.Empty;
            comm.Gatherv(send, comm.Rank == 0 ? buffer : NativeBuffer.Empty, counts, displacements, root: 0);
            Log.Debug("large message: Gatherv done at {Ms} ms", clock.ElapsedMilliseconds);
            if (comm.Rank == 0) Verify(comm, buffer, seed: 2, "Gatherv");
            Log.Debug("large message: verified at {Ms} ms", clock.ElapsedMilliseconds);
        }
        finally
        {
            NativeMemory.AlignedFree(memory);
        }
    }

    private const int BlockBytes = 1 << 20;

    /// <summary>
    /// Every 1 MiB block is the same pseudo-random template, except that its first 8 bytes hold the block index
    /// and the seed: fill and verify run at memcpy/memcmp speed, and a block delivered to the wrong place is caught.
    /// </summary>
    private static byte[] Template(ulong seed)
    {
        byte[] template = new byte[BlockBytes];
        new Random((int)seed).NextBytes(template);
        return template;
    }

    private static ulong Header(long block, ulong seed) => (ulong)block * 0x9E3779B97F4A7C15UL ^ seed;

    private static void Fill(NativeBuffer buffer, ulong seed)
    {
        byte[] template = Template(seed);
        for (long offset = 0, block = 0; offset < buffer.Length; offset += BlockBytes, block++)
        {
            int n = (int)Math.Min(BlockBytes, buffer.Length - offset);
            Span<byte> target = new(buffer.Pointer + offset, n);
            template.AsSpan(0, n).CopyTo(target);
            if (n >= 8) MemoryMarshal.Write(target, Header(block, seed));
        }
    }

    private static void Verify(ICommunicator comm, NativeBuffer buffer, ulong seed, string what)
    {
        byte[] template = Template(seed);
        for (long offset = 0, block = 0; offset < buffer.Length; offset += BlockBytes, block++)
        {
            int n = (int)Math.Min(BlockBytes, buffer.Length - offset);
            ReadOnlySpan<byte> actual = new(buffer.Pointer + offset, n);
            bool headerOk = n < 8 || MemoryMarshal.Read<ulong>(actual) == Header(block, seed);
            int skip = Math.Min(8, n);
            if (!headerOk || !actual[skip..].SequenceEqual(template.AsSpan(skip, n - skip)))
                throw new CollectiveCheckFailedException($"rank {comm.Rank}: {what} of {buffer.Length} bytes: the 1 MiB block at byte {offset} differs from what was sent");
        }
    }
}
