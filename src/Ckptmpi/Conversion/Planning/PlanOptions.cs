namespace Ckptmpi.Conversion.Planning;

/// <summary>
/// What the planner needs besides the layout and the catalog: how many ranks write, the buffer each may use,
/// whether every source tensor must be consumed (true when the writer converts the whole model), and the
/// load balance (max / mean bytes written per rank) worth splitting files for.
/// </summary>
public sealed record PlanOptions(int RankCount, long MaxBuffer, bool RequireAllSourceTensorsConsumed = true, double TargetBalance = 1.05)
{
    /// <summary>256 MiB: large enough for long sequential reads, small next to a node's memory.</summary>
    public const long DefaultMaxBuffer = 256L << 20;

    /// <summary>Below this a chunk would spend more time in system calls than in copying.</summary>
    public const long MinBuffer = 64L << 10;

    /// <summary>Chunks address the buffer with 32-bit offsets (spans).</summary>
    public const long MaxMaxBuffer = (1L << 31) - (1L << 20);
}
