namespace Ckptmpi.Tensors;

/// <summary>A half-open byte range <c>[Start, End)</c> in a file.</summary>
public readonly record struct ByteRange
{
    public ByteRange(long start, long end)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(start);
        ArgumentOutOfRangeException.ThrowIfLessThan(end, start);
        Start = start;
        End = end;
    }

    public long Start { get; }
    public long End { get; }
    public long Length => End - Start;

    public static ByteRange FromLength(long start, long length) => new(start, checked(start + length));

    public override string ToString() => $"[{Start}, {End})";
}
