using Ckptmpi.Conversion.Manifests;
using Ckptmpi.Conversion.Planning;

namespace Ckptmpi.Conversion.Execution;

/// <summary>How to execute a plan: replace an existing checkpoint or refuse, how source bytes travel, and the memory for them.</summary>
public sealed record ExecutionOptions(bool Overwrite = false, IoMode Io = IoMode.Direct, long MaxBuffer = BufferBudget.Default)
{
    /// <summary><see cref="MaxBuffer"/> split for <see cref="Io"/>; the plan must be cut for its <see cref="BufferBudget.ChunkBytes"/>.</summary>
    public BufferBudget Budget => Io == IoMode.Aggregate ? BufferBudget.Aggregate(MaxBuffer) : BufferBudget.Direct(MaxBuffer);

    /// <summary>The resume journal (Conversion/Journal), told about each phase and chunk; null: no journal.</summary>
    internal IExecutionHooks? Hooks { get; init; }
}

/// <summary>
/// What rank 0 knows once everything is committed (other ranks get an empty list), and the most bytes of buffers
/// this rank held at once (never more than <c>--max-buffer</c>).
/// </summary>
public sealed record ExecutionResult(IReadOnlyList<OutputChecksum> Files, double Seconds, long PeakBufferBytes);
