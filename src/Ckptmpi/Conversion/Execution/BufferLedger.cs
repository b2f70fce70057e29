using Ckptmpi.Conversion.Planning;

namespace Ckptmpi.Conversion.Execution;

/// <summary>
/// One rank's account of the tensor-data buffers it holds in one run: every <see cref="ChunkBuffer"/> draws from it,
/// and one that would take the rank past <c>--max-buffer</c> is refused (a planning bug, caught before it costs a
/// node its memory). <see cref="PeakBytes"/> is what the run really held at most.
/// </summary>
internal sealed class BufferLedger(BufferBudget budget)
{
    private long _live;
    private long _peak;

    public BufferBudget Budget { get; } = budget;

    public long PeakBytes => Interlocked.Read(ref _peak);

    /// <exception cref="InvalidOperationException">the rank would hold more than <see cref="BufferBudget.MaxBuffer"/>.</exception>
    public void Take(int bytes)
    {
        long live = Interlocked.Add(ref _live, bytes);
        if (live > Budget.MaxBuffer)
        {
            Interlocked.Add(ref _live, -bytes);
            throw new InvalidOperationException($"a {Tensors.ByteSize.Format(bytes)} buffer would take this rank to {Tensors.ByteSize.Format(live)}, past --max-buffer {Tensors.ByteSize.Format(Budget.MaxBuffer)}");
        }
        for (long peak = Interlocked.Read(ref _peak); live > peak; peak = Interlocked.Read(ref _peak))
        {
            if (Interlocked.CompareExchange(ref _peak, live, peak) == peak) break;
        }
    }

    public void Return(int bytes) => Interlocked.Add(ref _live, -bytes);
}
