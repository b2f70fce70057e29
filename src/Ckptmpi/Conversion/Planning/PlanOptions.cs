namespace Ckptmpi.Conversion.Planning;

/// <summary>
/// What the planner needs besides the layout and the catalog: how many ranks write, the most of a buffer one chunk
/// may touch (<see cref="BufferBudget.ChunkBytes"/>), whether every source tensor must be consumed (true when the
/// writer converts the whole model), and the load balance (max / mean bytes written per rank) worth splitting files for.
/// </summary>
public sealed record PlanOptions(int RankCount, long ChunkBytes, bool RequireAllSourceTensorsConsumed = true, double TargetBalance = 1.05)
{
    /// <summary>Source tensors exempt from <see cref="RequireAllSourceTensorsConsumed"/> (copies of a value the output holds once).</summary>
    public IReadOnlyCollection<string> Redundant { get; init; } = [];
}
