using System.Text.Json;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Conversion;

/// <summary>
/// Everything rank 0 learns from the source before planning, broadcast as one message so that N ranks do not
/// storm a parallel filesystem's metadata servers with the same small reads: the catalog, small side files the
/// writer needs (config.json, ds_config.json) by name, and the facts about each input file for the manifest.
/// </summary>
public sealed class JobInputs
{
    public JobInputs(SourceCatalog catalog, IReadOnlyDictionary<string, string>? sideFiles = null, IReadOnlyList<InputFileFact>? facts = null)
    {
        Catalog = catalog;
        SideFiles = sideFiles ?? new Dictionary<string, string>();
        Facts = facts ?? [];
    }

    public SourceCatalog Catalog { get; }

    /// <summary>Small text files read by rank 0 (e.g. "config.json" -> its text).</summary>
    public IReadOnlyDictionary<string, string> SideFiles { get; }

    public IReadOnlyList<InputFileFact> Facts { get; }

    public byte[] Serialize() => JsonSerializer.SerializeToUtf8Bytes(new Message(
        Catalog.Root,
        Catalog.Tensors.Select(t => new TensorMessage(t.Name, t.DType, t.Shape.ToArray(),
            t.Pieces.Select(p => new PieceMessage(p.FirstElement, p.ElementCount, p.File, p.ByteOffset, p.StoredDType)).ToArray())).ToArray(),
        new Dictionary<string, string>(Catalog.Attributes), new Dictionary<string, string>(SideFiles), Facts.ToArray()));

    public static JobInputs Deserialize(byte[] bytes)
    {
        Message m = JsonSerializer.Deserialize<Message>(bytes) ?? throw new InvalidDataException("empty job inputs message");
        var tensors = m.Tensors.Select(t => new SourceTensor(t.Name, t.DType, t.Shape,
            t.Pieces.Select(p => new SourcePiece(p.First, p.Count, p.File, p.Offset, p.Stored)).ToArray())).ToArray();
        return new JobInputs(new SourceCatalog(m.Root, tensors, m.Attributes), m.SideFiles, m.Facts);
    }

    private sealed record Message(string Root, TensorMessage[] Tensors, Dictionary<string, string> Attributes,
                                  Dictionary<string, string> SideFiles, InputFileFact[] Facts);

    private sealed record TensorMessage(string Name, DType DType, long[] Shape, PieceMessage[] Pieces);

    private sealed record PieceMessage(long First, long Count, string File, long Offset, DType Stored);
}

/// <summary>
/// An input file as the manifest and the resume journal record it: path, size, modification time, the CRC-32 of its
/// first bytes (its header) and the CRC-32 of a few samples spread over the rest (cheap evidence of its values).
/// </summary>
public sealed record InputFileFact(string Path, long Size, DateTime ModifiedUtc, string HeaderChecksum, string? SampleChecksum = null)
{
    /// <summary>How much of each input file's start the header checksum covers.</summary>
    public const int HeaderBytes = 1 << 20;

    /// <summary>The samples: <see cref="SampleCount"/> runs of <see cref="SampleBytes"/> at evenly spaced offsets after the header.</summary>
    public const int SampleCount = 16, SampleBytes = 4096;

    public const string HeaderAlgorithm = "crc32 of the first 1 MiB; samples: crc32 of 16 x 4 KiB evenly spaced after it";

    public static InputFileFact Of(string path)
    {
        var info = new FileInfo(path);
        using var source = new FileByteSource(path);
        var head = new byte[(int)Math.Min(HeaderBytes, source.Length)];
        source.ReadExactly(0, head);
        return new InputFileFact(System.IO.Path.GetFullPath(path), info.Length, info.LastWriteTimeUtc, Tensors.Checksums.Crc32.Hash(head).ToString("x8"),
                                 Samples(source).ToString("x8"));
    }

    private static uint Samples(FileByteSource source)
    {
        uint crc = 0;
        long rest = source.Length - HeaderBytes;
        if (rest <= 0) return crc;
        var buffer = new byte[(int)Math.Min(SampleBytes, rest)];
        for (int i = 0; i < SampleCount; i++)
        {
            long offset = HeaderBytes + (rest - buffer.Length) * i / Math.Max(1, SampleCount - 1);
            source.ReadExactly(offset, buffer);
            crc = Tensors.Checksums.Crc32.Append(crc, buffer);
        }
        return crc;
    }
}
