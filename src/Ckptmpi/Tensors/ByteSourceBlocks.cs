namespace Ckptmpi.Tensors;

public static class ByteSourceBlocks
{
    /// <summary>
    /// Blocks closer than this are read as one span and picked out of it. A column band of a tensor split on its
    /// last dim (a row-parallel shard: tp 8 of an [4096, 11008] bf16 matrix takes 2.7 KiB of every 21.5 KiB row) is
    /// thousands of small blocks: one pread each cost HF -> NxDT (tp 8) 263,610 calls for 1 GB on our VM, where
    /// every call has a fixed cost of microseconds while skipping a few KiB saves a fraction of that (page-cache
    /// copies run at several GB/s, and storage moves whole pages and readahead windows anyway).
    /// </summary>
    internal const int CoalesceGap = 16 << 10;

    /// <summary>The most bytes one coalesced read spans (a scratch block per reading thread, reused).</summary>
    internal const int SpanBytes = 1 << 20;

    [ThreadStatic] private static byte[]? t_span;

    /// <summary>
    /// Reads <paramref name="count"/> blocks of <paramref name="length"/> bytes, block <c>i</c> at
    /// <c>offset + i * stride</c>, packed one after another into <paramref name="into"/> (a column band of a row-major
    /// tensor, one row's slice per block). Blocks separated by less than <see cref="CoalesceGap"/> are read a span of
    /// consecutive blocks at a time (at most <see cref="SpanBytes"/>) and copied out.
    /// </summary>
    public static void ReadBlocks(this IByteSource source, long offset, int length, int count, long stride, Span<byte> into)
    {
        if (into.Length != (long)length * count) throw new ArgumentException($"{count} blocks of {length} bytes do not fill {into.Length} bytes");
        int perSpan = count > 1 && stride >= length && stride - length < CoalesceGap && stride <= SpanBytes
            ? (int)Math.Min(count, (SpanBytes - length) / stride + 1)
            : 1;
        if (perSpan < 2)
        {
            for (int i = 0; i < count; i++) source.ReadExactly(offset + i * stride, into.Slice(i * length, length));
            return;
        }
        byte[] span = t_span ??= new byte[SpanBytes];
        for (int first = 0; first < count; first += perSpan)
        {
            int blocks = Math.Min(perSpan, count - first);
            int bytes = checked((int)((blocks - 1) * stride + length));
            source.ReadExactly(offset + first * stride, span.AsSpan(0, bytes));
            for (int b = 0; b < blocks; b++)
                span.AsSpan((int)(b * stride), length).CopyTo(into.Slice((first + b) * length, length));
        }
    }
}
