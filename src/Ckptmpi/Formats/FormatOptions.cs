namespace Ckptmpi.Formats;

/// <summary>
/// The typed options of one format, bound from the command-line options that format declares
/// (<see cref="ICheckpointFormat.Options"/>). One record per format serves its reader and its writer.
/// </summary>
public abstract record FormatOptions
{
    /// <summary>The <see cref="ICheckpointFormat.Name"/> these options belong to.</summary>
    public abstract string Format { get; }
}
