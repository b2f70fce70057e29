using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Formats;

/// <summary>
/// A writer's output files, and what the user must hear before the job starts (rank 0 logs each note as a warning),
/// e.g. state of the source that this target does not carry.
/// </summary>
public sealed record TargetLayout(OutputLayout Layout, IReadOnlyList<string> Notes)
{
    public TargetLayout(OutputLayout layout) : this(layout, []) { }

    /// <summary>
    /// Source tensors the writer leaves out on purpose because a tensor it does write holds the same value (torch
    /// Adam keeps one <c>step</c> per parameter; a ZeRO file keeps one per parameter group), so the check that every
    /// source element is written skips them.
    /// </summary>
    public IReadOnlyCollection<string> Redundant { get; init; } = [];
}
