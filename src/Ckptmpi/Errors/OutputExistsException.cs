namespace Ckptmpi.Errors;

/// <summary>The output directory already holds a checkpoint and <c>--overwrite</c> was not given.</summary>
public class OutputExistsException : IOException
{
    public OutputExistsException(string path, string message) : base($"{path}: {message}") => Path = path;

    public string Path { get; }
}
