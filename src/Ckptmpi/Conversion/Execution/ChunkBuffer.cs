using System.Runtime.InteropServices;

namespace Ckptmpi.Conversion.Execution;

/// <summary>
/// The executor's one buffer: an aligned native block, allocated once per rank and freed on dispose. It is the
/// only allocation that grows with <c>--max-buffer</c>, so a rank's memory is this plus a fixed overhead.
/// </summary>
internal sealed unsafe class ChunkBuffer : IDisposable
{
    // Page alignment: O_DIRECT-friendly and cache-line aligned for the cast kernels.
    private const nuint Alignment = 4096;
    private byte* _pointer;

    public ChunkBuffer(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        Length = Math.Max(length, 1);
        _pointer = (byte*)NativeMemory.AlignedAlloc((nuint)Length, Alignment);
    }

    public int Length { get; }

    public byte* Pointer => _pointer != null ? _pointer : throw new ObjectDisposedException(nameof(ChunkBuffer));

    public Span<byte> Span => new(Pointer, Length);

    public void Dispose()
    {
        if (_pointer == null) return;
        NativeMemory.AlignedFree(_pointer);
        _pointer = null;
    }
}
