using System.Text.Json;
using Ckptmpi.Conversion.Manifests;
using Ckptmpi.Formats;
using System.Text.Json.Serialization;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;
using Ckptmpi.Tensors.Views;

namespace Ckptmpi.Conversion;

/// <summary>
/// Everything rank 0 learns before planning, broadcast as one message so that N ranks do not storm a parallel
/// filesystem's metadata servers with the same small reads: the catalog, the reader's typed facts for the writer,
/// the text of the files the writer's options name (e.g. --ds-config), and the facts about each input file for the
/// manifest.
/// </summary>
public sealed class JobInputs
{
    public JobInputs(SourceCatalog catalog, SourceFacts source, IReadOnlyDictionary<string, string>? writerFiles = null, IReadOnlyList<InputFileFact>? facts = null)
    {
        Catalog = catalog;
        Source = source;
        WriterFiles = writerFiles ?? new Dictionary<string, string>();
        Facts = facts ?? [];
    }

    public SourceCatalog Catalog { get; }

    /// <summary>What the reader says about the source besides its tensors; <see cref="SourceFacts.Format"/> names the reader.</summary>
    public SourceFacts Source { get; }

    /// <summary>Files the writer's options named, read by rank 0: path as given -> text.</summary>
    public IReadOnlyDictionary<string, string> WriterFiles { get; }

    public IReadOnlyList<InputFileFact> Facts { get; }

    public byte[] Serialize() => JsonSerializer.SerializeToUtf8Bytes(new InputsMessage(
        Catalog.Root,
        Catalog.Tensors.Select(t => new TensorMessage(t.Name, t.DType, t.Shape.ToArray(),
            t.Pieces.Select(PieceMessage.Of).ToArray())).ToArray(),
        Source, new Dictionary<string, string>(WriterFiles), Facts.ToArray()));

    public static JobInputs Deserialize(byte[] bytes)
    {
        InputsMessage m = JsonSerializer.Deserialize<InputsMessage>(bytes) ?? throw new InvalidDataException("empty job inputs message");
        var tensors = m.Tensors.Select(t => new SourceTensor(t.Name, t.DType, t.Shape,
            t.Pieces.Select(p => p.ToPiece()).ToArray())).ToArray();
        return new JobInputs(new SourceCatalog(m.Root, tensors), m.Source, m.WriterFiles, m.Facts);
    }

    private sealed record InputsMessage(string Root, TensorMessage[] Tensors, SourceFacts Source,
                                  Dictionary<string, string> WriterFiles, InputFileFact[] Facts);

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
