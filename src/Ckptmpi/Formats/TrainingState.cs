namespace Ckptmpi.Formats;

/// <summary>
/// Optimizer state a training checkpoint holds beyond the weights. A writer that does not carry it says so before the
/// job starts, naming <see cref="Description"/>; a writer that does finds its tensors by <see cref="StateTensors"/>.
/// </summary>
public sealed record TrainingState
{
    /// <summary>What the state is, for the user, e.g. "Adam moments (exp_avg, exp_avg_sq) and step 1 of a ZeRO-3 run (tag global_step1)".</summary>
    public required string Description { get; init; }

    /// <summary>The checkpoint version it belongs to (a ZeRO tag).</summary>
    public string? Tag { get; init; }

    /// <summary>The optimizer step when it is one number for all params; null when per tensor or unknown.</summary>
    public string? Step { get; init; }

    /// <summary>The trainer's counters a resumed run continues from (ZeRO: <c>global_steps</c>, <c>global_samples</c>, <c>skipped_steps</c>).</summary>
    public IReadOnlyDictionary<string, long> Counters { get; init; } = new Dictionary<string, long>();

    /// <summary>Catalog tensors that are optimizer state, not weights (read only when asked for, e.g. <c>--with-optimizer-states</c>).</summary>
    public IReadOnlyList<string> StateTensors { get; init; } = [];
}
