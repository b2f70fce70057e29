using Ckptmpi.Conversion.Manifests;

namespace Ckptmpi.Conversion.Execution;

/// <summary>How to execute a plan: replace an existing checkpoint or refuse, and how source bytes travel.</summary>
public sealed record ExecutionOptions(bool Overwrite = false, IoMode Io = IoMode.Direct)
{
    /// <summary>The resume journal (Conversion/Journal), told about each phase and chunk; null: no journal.</summary>
    internal IExecutionHooks? Hooks { get; init; }
}

/// <summary>What rank 0 knows once everything is committed; other ranks get an empty list.</summary>
public sealed record ExecutionResult(IReadOnlyList<OutputChecksum> Files, double Seconds);
