namespace Ckptmpi.Parallel;

/// <summary>
/// A pointer and a 64-bit length: the buffer type of every collective, because spans stop at 2 GiB and MPI
/// messages here may not. The memory must stay pinned for the duration of the call.
/// </summary>
public readonly unsafe struct NativeBuffer(byte* pointer, long length)
{
    public byte* Pointer { get; } = pointer;
    public long Length { get; } = length;

    public static NativeBuffer Empty => default;

    /// <summary>A span over the buffer; only for buffers under 2 GiB.</summary>
    public Span<byte> AsSpan() => new(Pointer, checked((int)Length));

    public NativeBuffer Slice(long offset, long length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(offset + length, Length);
        return new NativeBuffer(Pointer + offset, length);
    }
}
