namespace Ckptmpi.Conversion.Planning;

/// <summary>
/// How a rank spends <c>--max-buffer</c>, the one bound on the memory it holds for tensor data. Every buffer the
/// executor allocates for tensor bytes comes out of this split, so their sum never exceeds <see cref="MaxBuffer"/>:
/// <list type="bullet">
/// <item>direct I/O: two chunk buffers of half each, so reading the next chunk overlaps writing the last;</item>
/// <item>aggregate I/O: one chunk buffer (2/5), the receive area the chunk's source bytes land in (2/5, never more
/// than the chunk's reads, which fit its buffer) and the send buffer an owner reads requests into (the rest, 1/5).</item>
/// </list>
/// The planner cuts chunks to <see cref="TargetChunkBytes"/>, never past <see cref="ChunkBytes"/>; it never sees the I/O mode.
/// </summary>
public sealed record BufferBudget
{
    /// <summary>256 MiB: large enough for long sequential reads, small next to a node's memory.</summary>
    public const long Default = 256L << 20;

    /// <summary>
    /// The smallest <c>--max-buffer</c>: every split above still leaves chunks of at least <see cref="MinChunkBytes"/>.
    /// </summary>
    public const long Minimum = 64L << 10;

    /// <summary>Chunks address the buffer with 32-bit offsets (spans).</summary>
    public const long Maximum = (1L << 31) - (1L << 20);

    /// <summary>
    /// The size the planner cuts chunks to when the budget allows more: the power of two at least
    /// <see cref="PreferredChunkBytes"/> that keeps the whole plan near <see cref="PlannedChunks"/> chunks, never past
    /// <paramref name="chunkBytes"/> (a reducing record, one pass over a whole quantized or averaged tensor, may still
    /// take all of it).
    /// </summary>
    public static int TargetChunkBytes(long totalBytes, int chunkBytes)
    {
        long wanted = Math.Max(PreferredChunkBytes, (long)System.Numerics.BitOperations.RoundUpToPowerOf2((ulong)Math.Max(1, totalBytes / PlannedChunks)));
        return (int)Math.Min(chunkBytes, wanted);
    }

    /// <summary>
    /// Why chunks smaller than the budget: a chunk is read, assembled, checksummed and then written while the next is
    /// assembled, and a large one has left the CPU caches by the time it is written. HF -> NxDT (tp 8, pp 4) of 1 GB on
    /// 1 rank spent 8.0-8.4 s of system time with 128 MiB chunks, 4.5-5.0 s with 32 MiB, 3.7-4.0 s with 8 and 16 MiB
    /// (the page-cache copies of its pwrites: 3.8 ms per MiB against 1.4) and held 227 MB against 92-107.
    /// </summary>
    public const int PreferredChunkBytes = 16 << 20;

    /// <summary>
    /// Why not always that small: every rank plans every rank's chunks, and planning time and plan memory grow with
    /// their count. Llama-3.1-405B from 8 dim-1 shards on 96 ranks is 6,000-odd chunks of 128 MiB, planned in 1.3-1.5 s;
    /// in 16 MiB chunks it was 99,312 chunks and 2.5 million operations, 10 s of CPU.
    /// </summary>
    public const long PlannedChunks = 8192;

    /// <summary>The smallest chunk the planner accepts: below it a chunk spends more time in system calls than in copying.</summary>
    public const int MinChunkBytes = 16 << 10;

    private BufferBudget(long maxBuffer, int chunkBytes, int chunkBuffers, int receiveBytes, int sendBytes)
    {
        MaxBuffer = maxBuffer;
        ChunkBytes = chunkBytes;
        ChunkBuffers = chunkBuffers;
        ReceiveBytes = receiveBytes;
        SendBytes = sendBytes;
    }

    public long MaxBuffer { get; }

    /// <summary>The most of a chunk buffer one chunk may touch (what the planner plans with).</summary>
    public int ChunkBytes { get; }

    /// <summary>How many chunk buffers the executor holds at once.</summary>
    public int ChunkBuffers { get; }

    /// <summary>Aggregate I/O: the receive area; direct I/O: 0.</summary>
    public int ReceiveBytes { get; }

    /// <summary>Aggregate I/O: the send buffer, the most an owner sends in one Alltoallv step; direct I/O: 0.</summary>
    public int SendBytes { get; }

    /// <summary>Two chunk buffers of half of <paramref name="maxBuffer"/> each.</summary>
    /// <exception cref="ArgumentOutOfRangeException">outside [<see cref="Minimum"/>, <see cref="Maximum"/>].</exception>
    public static BufferBudget Direct(long maxBuffer)
    {
        Check(maxBuffer);
        int chunk = (int)(maxBuffer / 2);
        return new BufferBudget(maxBuffer, chunk, 2, 0, 0);
    }

    /// <summary>A chunk buffer and a receive area of 2/5 of <paramref name="maxBuffer"/> each, and a send buffer of the rest.</summary>
    /// <exception cref="ArgumentOutOfRangeException">outside [<see cref="Minimum"/>, <see cref="Maximum"/>].</exception>
    public static BufferBudget Aggregate(long maxBuffer)
    {
        Check(maxBuffer);
        int chunk = (int)(maxBuffer * 2 / 5);
        return new BufferBudget(maxBuffer, chunk, 1, chunk, (int)(maxBuffer - 2L * chunk));
    }

    /// <summary>Why <paramref name="maxBuffer"/> cannot be a <c>--max-buffer</c>, or null if it can.</summary>
    public static string? Problem(long maxBuffer) => maxBuffer is < Minimum or > Maximum
        ? $"must be between {Tensors.ByteSize.Format(Minimum)} (the minimum: every I/O mode still gets chunks of {Tensors.ByteSize.Format(MinChunkBytes)}) and {Tensors.ByteSize.Format(Maximum)}"
        : null;

    private static void Check(long maxBuffer)
    {
        if (Problem(maxBuffer) is string problem) throw new ArgumentOutOfRangeException(nameof(maxBuffer), maxBuffer, $"--max-buffer {problem}");
    }
}
