namespace Ckptmpi.Errors;

/// <summary>A tensor whose shape contradicts what the model configuration or another file says.</summary>
public class ShapeMismatchException : CheckpointFormatException
{
    public ShapeMismatchException(string path, string tensorName, IReadOnlyList<long> expected, IReadOnlyList<long> actual, string? detail = null)
        : base(path, null, $"shape [{string.Join(", ", actual)}] does not match the expected [{string.Join(", ", expected)}]" + (detail is null ? "" : $"; {detail}"), tensorName)
    {
        Expected = expected;
        Actual = actual;
    }

    public IReadOnlyList<long> Expected { get; }
    public IReadOnlyList<long> Actual { get; }
}
