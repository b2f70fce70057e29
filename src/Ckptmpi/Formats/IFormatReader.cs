namespace Ckptmpi.Formats;

/// <summary>
/// Reads a source checkpoint's metadata, on rank 0 only (it may do I/O): where every element of every tensor lives,
/// and what the source says about itself beyond the tensors (<see cref="SourceFacts"/>).
/// </summary>
public interface IFormatReader
{
    /// <summary>One line for <c>--help</c>.</summary>
    string Description { get; }

    /// <summary>
    /// What <paramref name="path"/> looks like to this reader, e.g. "a DeepSpeed ZeRO-3 checkpoint (dp 4, tag
    /// global_step0)"; null when it is not this format. Looks at marker files and names only, never tensor data.
    /// </summary>
    string? Probe(string path);

    /// <exception cref="Errors.CheckpointFormatException">malformed input.</exception>
    /// <exception cref="Errors.UnsupportedCheckpointException">valid input this reader does not support.</exception>
    SourceMetadata Open(ReadSettings settings, FormatOptions options);
}
