namespace Ckptmpi.Formats;

/// <summary>
/// Describes every output file of a target checkpoint as segments, from the broadcast source metadata alone: a pure
/// function every rank evaluates to the same layout (any file it needs was read by rank 0, see <see cref="InputFiles"/>).
/// </summary>
public interface IFormatWriter
{
    /// <summary>One line for <c>--help</c>.</summary>
    string Description { get; }

    /// <summary>
    /// The target holds the whole model, so a source tensor it does not write is an error rather than silently dropped.
    /// </summary>
    bool ConsumesEverything { get; }

    /// <summary>
    /// The target resumes training (a ZeRO checkpoint), so it takes the source's optimizer state when the source has
    /// some: the job then asks the reader for it (<see cref="ReadSettings.WithTrainingState"/>).
    /// </summary>
    bool CarriesTrainingState => false;

    /// <summary>Small text files the options name (e.g. <c>--ds-config</c>) that rank 0 reads and broadcasts for <see cref="Layout"/>.</summary>
    IReadOnlyList<string> InputFiles(FormatOptions options);

    /// <exception cref="Errors.FormatOptionException">an option value this writer refuses.</exception>
    /// <exception cref="Errors.UnsupportedCheckpointException">the source cannot be written in this format (a dtype, a shape, a config).</exception>
    /// <exception cref="Errors.ShapeMismatchException">a tensor contradicts the model config.</exception>
    TargetLayout Layout(WriteInput input, FormatOptions options);
}
