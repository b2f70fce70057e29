using System.Buffers.Binary;
using Ckptmpi.Errors;
using Ckptmpi.Tensors;

namespace Ckptmpi.Formats.Safetensors;

/// <summary>
/// A safetensors header that has been validated in full (docs/formats/safetensors.md): the length prefix is within the cap
/// and the file, the JSON is a valid UTF-8 object without duplicate keys, every dtype is known, every byte range equals
/// <c>numel * dtype size</c>, the ranges tile the data section with no gap or overlap, and the data ends exactly at the
/// end of the file. <see cref="Parse"/> is the only way to get one, so later stages trust it.
/// </summary>
public sealed partial class SafetensorsHeader
{
    private readonly Dictionary<string, SafetensorsTensorInfo> _byName;

    private SafetensorsHeader(string path, long headerLength, long fileLength, IReadOnlyList<SafetensorsTensorInfo> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        Path = path;
        HeaderLength = headerLength;
        FileLength = fileLength;
        Tensors = tensors;
        Metadata = metadata;
        _byName = tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
    }

    /// <summary>The file the header came from (used in every error message).</summary>
    public string Path { get; }

    /// <summary>The declared JSON length N (bytes <c>[8, 8+N)</c>), padding included.</summary>
    public long HeaderLength { get; }

    /// <summary>Where the data section starts: <c>8 + N</c>.</summary>
    public long DataStart => SafetensorsFormat.LengthPrefixSize + HeaderLength;

    public long FileLength { get; }

    /// <summary>The tensors in the order of their data (by offset), which is the order to read a file sequentially.</summary>
    public IReadOnlyList<SafetensorsTensorInfo> Tensors { get; }

    /// <summary>The <c>__metadata__</c> map (string to string); empty when absent.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    public bool TryGetTensor(string name, out SafetensorsTensorInfo info) => _byName.TryGetValue(name, out info!);

    public SafetensorsTensorInfo this[string name] => _byName.TryGetValue(name, out SafetensorsTensorInfo? t)
        ? t
        : throw new KeyNotFoundException($"{Path}: no tensor named '{name}' ({Tensors.Count} tensors)");

    /// <summary>
    /// Checks the 8-byte length prefix against the cap and the file size and returns the header length N, so the
    /// caller knows how many bytes to read before calling <see cref="Parse"/>.
    /// </summary>
    /// <exception cref="CheckpointFormatException">The file is too short, or N exceeds the cap or the file.</exception>
    public static long ReadDeclaredLength(ReadOnlySpan<byte> prefix, long fileLength, string path)
    {
        if (fileLength < SafetensorsFormat.LengthPrefixSize || prefix.Length < SafetensorsFormat.LengthPrefixSize)
            throw new CheckpointFormatException(path, 0, $"the file has {fileLength} bytes, fewer than the {SafetensorsFormat.LengthPrefixSize}-byte header length; it is truncated or not safetensors");
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (n > SafetensorsFormat.MaxHeaderBytes)
            throw new CheckpointFormatException(path, 0, $"header length {n} exceeds the {SafetensorsFormat.MaxHeaderBytes}-byte limit; the file is corrupt or not safetensors");
        if ((long)n > fileLength - SafetensorsFormat.LengthPrefixSize)
            throw new CheckpointFormatException(path, 0, $"header length {n} runs past the end of the file ({fileLength} bytes); the file is truncated");
        return (long)n;
    }

    /// <summary>
    /// Validates and parses a header from <paramref name="prefix"/>, which holds at least the first <c>8 + N</c> bytes of
    /// the file. Pure: no I/O.
    /// </summary>
    /// <exception cref="CheckpointFormatException">Anything in the header is malformed or inconsistent with the file size.</exception>
    /// <exception cref="UnsupportedCheckpointException">A tensor uses a valid dtype that ckptmpi does not convert (FP8, complex, ...).</exception>
    /// <exception cref="ArgumentException"><paramref name="prefix"/> is shorter than the header it declares.</exception>
    public static SafetensorsHeader Parse(ReadOnlySpan<byte> prefix, long fileLength, string path)
    {
        long n = ReadDeclaredLength(prefix, fileLength, path);
        if (prefix.Length < SafetensorsFormat.LengthPrefixSize + n)
            throw new ArgumentException($"{path}: the prefix has {prefix.Length} bytes but the header needs {SafetensorsFormat.LengthPrefixSize + n}", nameof(prefix));
        ReadOnlySpan<byte> json = prefix.Slice(SafetensorsFormat.LengthPrefixSize, (int)n);
        (List<Entry> entries, Dictionary<string, string> metadata) = ParseJson(json, path);
        List<SafetensorsTensorInfo> tensors = ValidateLayout(entries, n, fileLength, path);
        return new SafetensorsHeader(path, n, fileLength, tensors, metadata);
    }

    /// <summary>Reads (two positional reads) and validates the header of <paramref name="source"/>.</summary>
    /// <exception cref="CheckpointFormatException">See <see cref="Parse"/>.</exception>
    public static SafetensorsHeader Read(IByteSource source)
    {
        Span<byte> lengthPrefix = stackalloc byte[SafetensorsFormat.LengthPrefixSize];
        if (source.Length >= SafetensorsFormat.LengthPrefixSize) source.ReadExactly(0, lengthPrefix);
        long n = ReadDeclaredLength(lengthPrefix, source.Length, source.Path);
        byte[] prefix = new byte[SafetensorsFormat.LengthPrefixSize + n]; // capped at 100 MB by ReadDeclaredLength
        source.ReadExactly(0, prefix);
        return Parse(prefix, source.Length, source.Path);
    }

    /// <summary>Reads the header of the file at <paramref name="path"/>.</summary>
    public static SafetensorsHeader Read(string path)
    {
        using var source = new FileByteSource(path);
        return Read(source);
    }

    // Why sort by offset: the format does not require header order to match data order (the reference writer sorts
    // by alignment then name), and contiguity can only be proved in data order.
    private static List<SafetensorsTensorInfo> ValidateLayout(List<Entry> entries, long headerLength, long fileLength, string path)
    {
        long dataStart = SafetensorsFormat.LengthPrefixSize + headerLength;
        long dataLength = fileLength - dataStart;
        foreach (Entry e in entries)
        {
            long nbytes;
            try
            {
                nbytes = checked(DTypes.ElementCount(e.Shape) * e.DType.SizeInBytes());
            }
            catch (OverflowException)
            {
                throw new CheckpointFormatException(path, e.HeaderOffset, $"shape [{string.Join(", ", e.Shape)}] has more bytes than a 64-bit length can hold", e.Name);
            }
            if (e.End < e.Begin)
                throw new CheckpointFormatException(path, e.HeaderOffset, $"data_offsets [{e.Begin}, {e.End}] end before they begin", e.Name);
            if (e.End - e.Begin != nbytes)
                throw new CheckpointFormatException(path, e.HeaderOffset, $"data_offsets [{e.Begin}, {e.End}] hold {e.End - e.Begin} bytes but {e.DType.SafetensorsName()} [{string.Join(", ", e.Shape)}] needs {nbytes}", e.Name);
            if (e.End > dataLength)
                throw new CheckpointFormatException(path, e.HeaderOffset, $"data_offsets [{e.Begin}, {e.End}] run past the end of the data section ({dataLength} bytes); the file is truncated", e.Name);
        }
        List<Entry> sorted = entries.OrderBy(e => e.Begin).ThenBy(e => e.End).ThenBy(e => e.Name, StringComparer.Ordinal).ToList();
        long at = 0;
        var tensors = new List<SafetensorsTensorInfo>(sorted.Count);
        foreach (Entry e in sorted)
        {
            if (e.Begin > at)
                throw new CheckpointFormatException(path, dataStart + at, $"gap in the data: bytes [{at}, {e.Begin}) of the data section belong to no tensor", e.Name);
            if (e.Begin < at)
                throw new CheckpointFormatException(path, dataStart + e.Begin, $"data_offsets [{e.Begin}, {e.End}] overlap the previous tensor, which ends at {at}", e.Name);
            at = e.End;
            tensors.Add(new SafetensorsTensorInfo(e.Name, e.DType, e.Shape, new ByteRange(e.Begin, e.End), new ByteRange(dataStart + e.Begin, dataStart + e.End)));
        }
        if (at != dataLength)
            throw new CheckpointFormatException(path, dataStart + at, $"the tensors end {dataStart + at} bytes into the file but the file has {fileLength} bytes; it has trailing data or lost a tensor");
        return tensors;
    }

    private sealed record Entry(string Name, DType DType, long[] Shape, long Begin, long End, long HeaderOffset);
}
