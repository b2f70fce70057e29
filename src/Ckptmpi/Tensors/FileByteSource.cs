using Ckptmpi.Errors;
using Microsoft.Win32.SafeHandles;

namespace Ckptmpi.Tensors;

/// <summary>An <see cref="IByteSource"/> over a file, read with <see cref="RandomAccess"/> at offsets (no stream position, thread-safe).</summary>
public sealed class FileByteSource : IByteSource
{
    private readonly SafeFileHandle _handle;

    public FileByteSource(string path)
    {
        Path = path;
        InputFiles.RequireRegular(path);
        _handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.RandomAccess);
        Length = RandomAccess.GetLength(_handle);
    }

    public string Path { get; }
    public long Length { get; }

    public void ReadExactly(long offset, Span<byte> destination)
    {
        if (offset < 0 || offset + destination.Length > Length)
            throw new CheckpointFormatException(Path, offset, $"read of {destination.Length} bytes at {offset} is past the end of the file ({Length} bytes); the file is truncated");
        while (!destination.IsEmpty)
        {
            int n = RandomAccess.Read(_handle, destination, offset);
            if (n == 0)
                throw new CheckpointFormatException(Path, offset, $"unexpected end of file (file shrank while reading?)");
            destination = destination[n..];
            offset += n;
        }
    }

    public void Dispose() => _handle.Dispose();
}
