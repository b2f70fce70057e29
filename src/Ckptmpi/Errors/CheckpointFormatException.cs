namespace Ckptmpi.Errors;

/// <summary>
/// Malformed input: a file that does not follow its format. Carries the file, the byte offset where the
/// problem was found (when known) and the tensor concerned (when known).
/// </summary>
// InvalidDataException would be the natural base, but it is sealed in .NET; FormatException is the closest unsealed type.
public class CheckpointFormatException : FormatException
{
    public CheckpointFormatException(string path, long? offset, string message, string? tensorName = null, Exception? inner = null)
        : base(Compose(path, offset, tensorName, message), inner)
    {
        Path = path;
        Offset = offset;
        TensorName = tensorName;
        Reason = message;
    }

    /// <summary>The file (or directory) that is malformed.</summary>
    public string Path { get; }

    /// <summary>Byte offset in <see cref="Path"/> where the problem was detected, if known.</summary>
    public long? Offset { get; }

    /// <summary>The tensor concerned, if any.</summary>
    public string? TensorName { get; }

    /// <summary>The message without the location prefix.</summary>
    public string Reason { get; }

    private static string Compose(string path, long? offset, string? tensor, string message)
    {
        string where = offset is long o ? $"{path} at byte {o}" : path;
        if (tensor is not null) where += $" (tensor '{tensor}')";
        return $"{where}: {message}";
    }
}
