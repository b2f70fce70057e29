using System.Runtime.InteropServices;

namespace Ckptmpi.Conversion.Execution;

/// <summary>
/// A buffer of the executor: an aligned native block, allocated once per use and freed on dispose, drawn from the
/// rank's <see cref="BufferLedger"/>. These are the only allocations that grow with <c>--max-buffer</c>, so a rank's
/// memory is their sum (at most <c>--max-buffer</c>) plus a fixed overhead.
/// </summary>
internal sealed unsafe class ChunkBuffer : IDisposable
{
    // Page alignment: O_DIRECT-friendly and cache-line aligned for the cast kernels.
    private const nuint Alignment = 4096;
    private readonly BufferLedger _ledger;
    private byte* _pointer;

    /// <exception cref="InvalidOperationException">the ledger refuses: the rank would pass <c>--max-buffer</c>.</exception>
    public ChunkBuffer(int length, BufferLedger ledger)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        Length = Math.Max(length, 1);
        ledger.Take(Length);
        _ledger = ledger;
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
        _ledger.Return(Length);
    }
}
