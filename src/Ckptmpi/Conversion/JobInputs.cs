using System.Text.Json;
using System.Text.Json.Serialization;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;
using Ckptmpi.Tensors.Views;

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
            t.Pieces.Select(PieceMessage.Of).ToArray())).ToArray(),
        new Dictionary<string, string>(Catalog.Attributes), new Dictionary<string, string>(SideFiles), Facts.ToArray()));

    public static JobInputs Deserialize(byte[] bytes)
    {
        Message m = JsonSerializer.Deserialize<Message>(bytes) ?? throw new InvalidDataException("empty job inputs message");
        var tensors = m.Tensors.Select(t => new SourceTensor(t.Name, t.DType, t.Shape,
            t.Pieces.Select(p => p.ToPiece()).ToArray())).ToArray();
        return new JobInputs(new SourceCatalog(m.Root, tensors, m.Attributes), m.SideFiles, m.Facts);
    }

    private sealed record Message(string Root, TensorMessage[] Tensors, Dictionary<string, string> Attributes,
                                  Dictionary<string, string> SideFiles, InputFileFact[] Facts);

    private sealed record TensorMessage(string Name, DType DType, long[] Shape, PieceMessage[] Pieces);

    /// <summary>
    /// A piece on the wire: a flat run is five fields as before; a box piece adds its start, length, split shape
    /// and permutation (omitted when the identity), and leaves First/Count out.
    /// </summary>
    private sealed record PieceMessage(
        [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] long? First,
        [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] long? Count,
        string File, long Offset, DType Stored,
        [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] long[]? Start = null,
        [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] long[]? Length = null,
        [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] long[]? Split = null,
        [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int[]? Perm = null)
    {
        public static PieceMessage Of(SourcePiece p) => p.IsFlat
            ? new PieceMessage(p.FirstElement, p.ElementCount, p.File, p.ByteOffset, p.StoredDType)
            : new PieceMessage(null, null, p.File, p.ByteOffset, p.StoredDType, p.Box.Start, p.Box.Length, p.Split, p.Permutation);

        public SourcePiece ToPiece() => Split is null
            ? new SourcePiece(First ?? throw new InvalidDataException("a flat piece without First"), Count ?? throw new InvalidDataException("a flat piece without Count"), File, Offset, Stored)
            : new SourcePiece(File, Offset, Stored, new Box(Start ?? [], Length ?? []), Split, Perm);
    }
}

/// <summary>An input file as the manifest records it: path, size, modification time and the CRC-32 of its first bytes (its header).</summary>
public sealed record InputFileFact(string Path, long Size, DateTime ModifiedUtc, string HeaderChecksum)
{
    /// <summary>How much of each input file's start the header checksum covers.</summary>
    public const int HeaderBytes = 1 << 20;

    public const string HeaderAlgorithm = "crc32 of the first 1 MiB";

    public static InputFileFact Of(string path)
    {
        var info = new FileInfo(path);
        using var source = new FileByteSource(path);
        var head = new byte[(int)Math.Min(HeaderBytes, source.Length)];
        source.ReadExactly(0, head);
        return new InputFileFact(System.IO.Path.GetFullPath(path), info.Length, info.LastWriteTimeUtc, Tensors.Checksums.Crc32.Hash(head).ToString("x8"));
    }
}
