namespace Ckptmpi.Tensors;

public static class ByteSourceBlocks
{
    /// <summary>
    /// Reads <paramref name="count"/> blocks of <paramref name="length"/> bytes, block <c>i</c> at
    /// <c>offset + i * stride</c>, packed one after another into <paramref name="into"/> (a column band of a row-major
    /// tensor, one row's slice per block).
    /// </summary>
    public static void ReadBlocks(this IByteSource source, long offset, int length, int count, long stride, Span<byte> into)
    {
        if (into.Length != (long)length * count) throw new ArgumentException($"{count} blocks of {length} bytes do not fill {into.Length} bytes");
        for (int i = 0; i < count; i++) source.ReadExactly(offset + i * stride, into.Slice(i * length, length));
    }
}
