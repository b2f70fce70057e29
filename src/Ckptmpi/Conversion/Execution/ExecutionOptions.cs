namespace Ckptmpi.Conversion.Execution;

/// <summary>How to execute a plan: replace an existing checkpoint or refuse, and how source bytes travel.</summary>
public sealed record ExecutionOptions(bool Overwrite = false, IoMode Io = IoMode.Direct)
{
    /// <summary>The resume journal (Conversion/Journal), told about each phase and chunk; null: no journal.</summary>
    internal IExecutionHooks? Hooks { get; init; }
}

/// <summary>One committed output file: path relative to the output directory, size, and its checksum (<see cref="Executor.ChecksumAlgorithm"/>, hex).</summary>
public sealed record OutputChecksum(string Path, long Size, string Checksum);

/// <summary>What rank 0 knows once everything is committed; other ranks get an empty list.</summary>
public sealed record ExecutionResult(IReadOnlyList<OutputChecksum> Files, double Seconds);
