using Ckptmpi.Tensors;

namespace Ckptmpi.Formats.Safetensors;

/// <summary>
/// An open safetensors file: its validated header and positional reads of any tensor, or any byte range of one,
/// without touching the rest of the file.
/// </summary>
public sealed class SafetensorsFile : IDisposable
{
    private readonly IByteSource _source;

    private SafetensorsFile(IByteSource source, SafetensorsHeader header)
    {
        _source = source;
        Header = header;
    }

    public SafetensorsHeader Header { get; }

    public string Path => _source.Path;

    /// <summary>Opens <paramref name="path"/> and validates its header (the only bytes read until a tensor is asked for).</summary>
    /// <exception cref="Ckptmpi.Errors.CheckpointFormatException">The header is malformed.</exception>
    public static SafetensorsFile Open(string path) => Open(new FileByteSource(path));

    /// <summary>Takes ownership of <paramref name="source"/>.</summary>
    public static SafetensorsFile Open(IByteSource source)
    {
        try
        {
            return new SafetensorsFile(source, SafetensorsHeader.Read(source));
        }
        catch
        {
            source.Dispose();
            throw;
        }
    }

    /// <summary>Copies bytes <c>[offsetInTensor, offsetInTensor + destination.Length)</c> of tensor <paramref name="name"/>.</summary>
    /// <exception cref="KeyNotFoundException">No such tensor.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The range is not inside the tensor.</exception>
    public void ReadTensorBytes(string name, long offsetInTensor, Span<byte> destination)
    {
        SafetensorsTensorInfo t = Header[name];
        ArgumentOutOfRangeException.ThrowIfNegative(offsetInTensor);
        if (offsetInTensor + destination.Length > t.ByteLength)
            throw new ArgumentOutOfRangeException(nameof(destination), $"bytes [{offsetInTensor}, {offsetInTensor + destination.Length}) are outside tensor '{name}' ({t.ByteLength} bytes)");
        _source.ReadExactly(t.FileRange.Start + offsetInTensor, destination);
    }

    /// <summary>Reads a whole tensor; for tests and small tensors only (the executor reads ranges).</summary>
    public byte[] ReadTensor(string name)
    {
        var bytes = new byte[Header[name].ByteLength];
        ReadTensorBytes(name, 0, bytes);
        return bytes;
    }

    public void Dispose() => _source.Dispose();
}
