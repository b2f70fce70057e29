namespace Ckptmpi.Errors;

/// <summary>Valid input that ckptmpi does not support (yet): a dtype, an architecture, a format variant.</summary>
public class UnsupportedCheckpointException : NotSupportedException
{
    public UnsupportedCheckpointException(string path, string message, Exception? inner = null)
        : base($"{path}: {message}", inner)
    {
        Path = path;
        Reason = message;
    }

    public string Path { get; }
    public string Reason { get; }
}
