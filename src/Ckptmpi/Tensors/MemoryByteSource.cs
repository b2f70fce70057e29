using Ckptmpi.Errors;

namespace Ckptmpi.Tensors;

/// <summary>An <see cref="IByteSource"/> over bytes in memory, for tests and small embedded files.</summary>
public sealed class MemoryByteSource(ReadOnlyMemory<byte> bytes, string path = "<memory>") : IByteSource
{
    public string Path { get; } = path;
    public long Length => bytes.Length;

    public void ReadExactly(long offset, Span<byte> destination)
    {
        if (offset < 0 || offset + destination.Length > bytes.Length)
            throw new CheckpointFormatException(Path, offset, $"read of {destination.Length} bytes at {offset} is past the end of the data ({bytes.Length} bytes); the file is truncated");
        bytes.Span.Slice(checked((int)offset), destination.Length).CopyTo(destination);
    }

    public void Dispose() { }
}
