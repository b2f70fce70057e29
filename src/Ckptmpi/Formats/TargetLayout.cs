using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Formats;

/// <summary>
/// A writer's output files, and what the user must hear before the job starts (rank 0 logs each note as a warning),
/// e.g. state of the source that this target does not carry.
/// </summary>
public sealed record TargetLayout(OutputLayout Layout, IReadOnlyList<string> Notes)
{
    public TargetLayout(OutputLayout layout) : this(layout, []) { }
}
