using Ckptmpi.Formats.Torch.Pickle;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Formats.Torch;

/// <summary>
/// The complete byte layout of one torch.save zip file, computed from the object graph alone
/// (<see cref="TorchArchiveLayout.Plan"/>): literal bytes for every header, the pickle, the small records, the
/// central directory and the end records; the data region of each storage, for the caller to fill; and the CRC-32
/// fields to patch once storage data is written. Literals plus storage regions tile <c>[0, Length)</c> exactly.
/// </summary>
public sealed class TorchArchivePlan
{
    internal TorchArchivePlan(string archiveName, byte[] pickle, IReadOnlyList<TorchStorage> storages, IReadOnlyList<LiteralSegment> literals,
        IReadOnlyDictionary<string, ByteRange> storageData, IReadOnlyList<Crc32Field> crc, long length)
    {
        ArchiveName = archiveName;
        Pickle = pickle;
        Storages = storages;
        Literals = literals;
        StorageData = storageData;
        Crc = crc;
        Length = length;
    }

    /// <summary>The folder every record is under (the file name's stem, see docs/formats/torch.md).</summary>
    public string ArchiveName { get; }

    /// <summary>The <c>data.pkl</c> bytes (already inside <see cref="Literals"/>).</summary>
    public byte[] Pickle { get; }

    /// <summary>Storages in record order (first use in the pickle).</summary>
    public IReadOnlyList<TorchStorage> Storages { get; }

    /// <summary>Every byte that is not storage data, in file order, CRC placeholders included.</summary>
    public IReadOnlyList<LiteralSegment> Literals { get; }

    /// <summary>Where each storage's bytes go, by key: exactly <see cref="TorchStorage.ByteLength"/> bytes, 64-byte aligned.</summary>
    public IReadOnlyDictionary<string, ByteRange> StorageData { get; }

    /// <summary>
    /// One field per non-empty storage: its data range and the offsets of its CRC in the data descriptor and in
    /// the central directory. Records whose bytes are literals already carry their CRC.
    /// </summary>
    public IReadOnlyList<Crc32Field> Crc { get; }

    /// <summary>Total file length.</summary>
    public long Length { get; }

    /// <summary>
    /// The output file for the engine: the literals interleaved with the segments <paramref name="fillStorage"/>
    /// returns for each storage (given the storage and its data range; they must tile that range exactly).
    /// </summary>
    /// <exception cref="ArgumentException">A storage's segments do not tile its data range.</exception>
    public OutputFile ToOutputFile(string relativePath, Func<TorchStorage, ByteRange, IEnumerable<OutputSegment>> fillStorage)
    {
        var segments = new List<OutputSegment>(Literals.Count + Storages.Count);
        var fills = new Dictionary<long, (TorchStorage Storage, ByteRange Range)>();
        foreach (TorchStorage s in Storages) fills[StorageData[s.Key].Start] = (s, StorageData[s.Key]);

        long at = 0;
        int literal = 0;
        while (at < Length)
        {
            if (literal < Literals.Count && Literals[literal].Offset == at)
            {
                segments.Add(Literals[literal]);
                at = Literals[literal++].End;
                continue;
            }
            if (!fills.TryGetValue(at, out var fill))
                throw new InvalidOperationException($"plan has a gap at {at}"); // our own bug: the plan tiles the file
            long cursor = fill.Range.Start;
            foreach (OutputSegment seg in fillStorage(fill.Storage, fill.Range))
            {
                if (seg.Offset != cursor)
                    throw new ArgumentException($"storage '{fill.Storage.Key}' segment starts at {seg.Offset}, expected {cursor} (data range {fill.Range})", nameof(fillStorage));
                segments.Add(seg);
                cursor = seg.End;
            }
            if (cursor != fill.Range.End)
                throw new ArgumentException($"storage '{fill.Storage.Key}' segments end at {cursor}, but its data range is {fill.Range}", nameof(fillStorage));
            at = fill.Range.End;
            // Zero-length storages share their offset with the next literal; they need no segment.
        }
        var file = new OutputFile(relativePath, Length, segments, Crc);
        file.Validate();
        return file;
    }

    /// <summary>
    /// The output file when each storage is one run of a canonical tensor's elements (the common case): storage
    /// key -> (tensor name, first element). Storage dtype is the output dtype.
    /// </summary>
    public OutputFile ToOutputFile(string relativePath, Func<TorchStorage, (string Tensor, long FirstElement)> source) =>
        ToOutputFile(relativePath, (s, range) => s.ElementCount == 0
            ? []
            : [new TensorSegment(range.Start, source(s).Tensor, source(s).FirstElement, s.ElementCount, s.DType)]);
}
