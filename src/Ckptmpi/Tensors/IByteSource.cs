namespace Ckptmpi.Tensors;

/// <summary>
/// The one narrow way bytes come in: positional reads of a file (or, in tests, of an array). Parsers never do
/// I/O of their own; they are handed spans read through this.
/// </summary>
public interface IByteSource : IDisposable
{
    /// <summary>Path used in error messages.</summary>
    string Path { get; }

    long Length { get; }

    /// <summary>Fills <paramref name="destination"/> from <paramref name="offset"/>; throws if the source ends first.</summary>
    void ReadExactly(long offset, Span<byte> destination);
}
