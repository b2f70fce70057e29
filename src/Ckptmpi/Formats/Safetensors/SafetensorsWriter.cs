using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;
using Microsoft.Win32.SafeHandles;

namespace Ckptmpi.Formats.Safetensors;

/// <summary>
/// Fills elements <c>[firstElement, firstElement + destination.Length / size)</c> of <paramref name="tensor"/> as
/// the segment's dtype into <paramref name="destination"/>.
/// </summary>
public delegate void TensorChunkFiller(string tensor, long firstElement, Span<byte> destination);

/// <summary>
/// A small single-process writer for an <see cref="OutputLayout"/> (tests, demos, and the one-rank path): each file is
/// written to <c>name.tmp</c> with positional writes, tensor data in chunks of at most <c>chunkBytes</c> (never a whole
/// tensor in memory), flushed to disk and renamed; commit-marker files (the index) go last. The parallel executor
/// does the same work across ranks.
/// </summary>
public static class SafetensorsWriter
{
    public const int DefaultChunkBytes = 4 << 20;

    private const string TempSuffix = ".tmp";

    /// <exception cref="IOException">A file cannot be written.</exception>
    public static void Write(OutputLayout layout, string outputDirectory, TensorChunkFiller fill, int chunkBytes = DefaultChunkBytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkBytes, 8);
        layout.Validate();
        Directory.CreateDirectory(outputDirectory);
        byte[] buffer = new byte[chunkBytes];
        foreach (OutputFile file in layout.Files.OrderBy(f => f.IsCommitMarker)) // stable: data files first, markers last
        {
            string path = Path.Combine(outputDirectory, file.RelativePath);
            string temp = path + TempSuffix;
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            try
            {
                using (SafeFileHandle handle = File.OpenHandle(temp, FileMode.Create, FileAccess.Write, FileShare.None, FileOptions.None, preallocationSize: file.Length))
                {
                    foreach (OutputSegment segment in file.Segments) WriteSegment(handle, segment, fill, buffer);
                    RandomAccess.FlushToDisk(handle);
                }
                File.Move(temp, path, overwrite: true);
            }
            catch
            {
                File.Delete(temp);
                throw;
            }
        }
    }

    private static void WriteSegment(SafeFileHandle handle, OutputSegment segment, TensorChunkFiller fill, byte[] buffer)
    {
        switch (segment)
        {
            case LiteralSegment literal:
                RandomAccess.Write(handle, literal.Bytes, literal.Offset);
                break;
            case ZeroSegment zero:
                Array.Clear(buffer);
                for (long at = 0; at < zero.ZeroLength; at += buffer.Length)
                    RandomAccess.Write(handle, buffer.AsSpan(0, (int)Math.Min(buffer.Length, zero.ZeroLength - at)), zero.Offset + at);
                break;
            case TensorSegment t:
                int size = t.DType.SizeInBytes();
                long perChunk = buffer.Length / size;
                for (long done = 0; done < t.ElementCount; done += perChunk)
                {
                    int n = (int)Math.Min(perChunk, t.ElementCount - done);
                    Span<byte> chunk = buffer.AsSpan(0, n * size);
                    fill(t.Tensor, t.FirstElement + done, chunk);
                    RandomAccess.Write(handle, chunk, t.Offset + done * size);
                }
                break;
            default:
                throw new System.Diagnostics.UnreachableException($"unknown segment {segment.GetType().Name}");
        }
    }
}
