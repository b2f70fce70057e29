using System.Globalization;
using System.Text;
using Ckptmpi.Errors;
using Ckptmpi.Formats.Torch.Pickle;
using Ckptmpi.Formats.Torch.Zip;
using Ckptmpi.Tensors;

namespace Ckptmpi.Formats.Torch;

// Reading a torch.save file (docs/formats/torch.md).

/// <summary>
/// A validated <c>torch.save</c> zip archive: the unpickled object graph and, for every storage it references,
/// the byte range of its data in the file (no extraction, no copy). Reading it touches only the zip tail, the
/// headers and <c>data.pkl</c>. Built only by <see cref="Open"/>, which checks that every storage record exists
/// and holds exactly <c>numel * element size</c> bytes.
/// </summary>
/// <remarks>
/// Legacy (non-zip) torch.save files, written with <c>_use_new_zipfile_serialization=False</c> or by torch
/// before 1.6, are detected by their leading pickle (or tar) bytes and refused with an
/// <see cref="UnsupportedCheckpointException"/> that says how to convert them: load and re-save with a recent
/// torch, <c>torch.save(torch.load(f), f)</c>, which writes the zip format.
/// </remarks>
public sealed class TorchArchive
{
    private const string PickleRecord = "data.pkl";
    private const string VersionRecord = "version";
    private const string TorchScriptVersionRecord = ".data/version";
    private const string ByteOrderRecord = "byteorder";
    private const string TorchScriptConstantsRecord = "constants.pkl";
    private const string StorageRecordPrefix = "data/";

    /// <summary>Largest <c>version</c> value any torch release writes or accepts today (10); torch.save writes 3.</summary>
    public const int MaxSupportedVersion = 10;

    private static ReadOnlySpan<byte> ZipMagic => "PK\u0003\u0004"u8;

    private TorchArchive(string path, ZipDirectory directory, PyValue root, IReadOnlyDictionary<string, TorchStorage> storages, IReadOnlyDictionary<string, ByteRange> ranges, int version)
    {
        Path = path;
        Directory = directory;
        Root = root;
        Storages = storages;
        StorageRanges = ranges;
        Version = version;
    }

    public string Path { get; }

    /// <summary>The archive folder every record lives under, e.g. <c>mp_rank_00_model_states</c>.</summary>
    public string ArchiveName => Directory.ArchiveName;

    public ZipDirectory Directory { get; }

    /// <summary>The unpickled object (usually a dict).</summary>
    public PyValue Root { get; }

    /// <summary>Every storage the pickle references, by key.</summary>
    public IReadOnlyDictionary<string, TorchStorage> Storages { get; }

    /// <summary>Where each storage's bytes lie in the file, by key (exactly <see cref="TorchStorage.ByteLength"/> bytes).</summary>
    public IReadOnlyDictionary<string, ByteRange> StorageRanges { get; }

    /// <summary>The <c>version</c> record (3 for torch.save).</summary>
    public int Version { get; }

    /// <summary>Bytes of a storage in the file.</summary>
    public ByteRange RangeOf(TorchStorage storage) => StorageRanges[storage.Key];

    /// <summary>Bytes of a contiguous tensor's elements in the file.</summary>
    /// <exception cref="InvalidOperationException">The tensor is not contiguous (read it through its strides instead).</exception>
    public ByteRange RangeOf(PyTensor tensor)
    {
        ByteRange inRecord = tensor.ContiguousBytes();
        return ByteRange.FromLength(RangeOf(tensor.Storage).Start + inRecord.Start, inRecord.Length);
    }

    /// <summary>Opens and validates a torch.save file, reading only headers and the pickle.</summary>
    /// <exception cref="CheckpointFormatException">Malformed zip or pickle, missing or mis-sized storage record.</exception>
    /// <exception cref="UnsupportedCheckpointException">Legacy (non-zip) format, TorchScript archive, big-endian data, or a storage dtype we do not read.</exception>
    public static TorchArchive Open(IByteSource source, PickleLimits? limits = null)
    {
        limits ??= PickleLimits.Default;
        string path = source.Path;
        RejectNonZip(source);
        ZipDirectory zip = ZipReader.Read(source);

        if (zip.FindRecord(TorchScriptConstantsRecord) is not null)
            throw new UnsupportedCheckpointException(path, "this is a TorchScript archive (it has constants.pkl), not a torch.save checkpoint");
        int version = ReadVersion(source, zip);
        if (zip.FindRecord(ByteOrderRecord) is ZipEntry order)
        {
            string text = ReadSmallRecord(source, order, 16);
            if (text != "little")
                throw new UnsupportedCheckpointException(path, $"byteorder record says '{text}'; only little-endian checkpoints are supported");
        }

        ZipEntry pickle = zip.FindRecord(PickleRecord)
            ?? throw new CheckpointFormatException(path, null, $"archive '{zip.ArchiveName}' has no {PickleRecord} record; not a torch.save file");
        if (pickle.Length > limits.MaxPickleBytes)
            throw new CheckpointFormatException(path, pickle.Data.Start, $"{PickleRecord} is {pickle.Length} bytes, over the {limits.MaxPickleBytes}-byte limit");
        var pickleBytes = new byte[pickle.Length];
        source.ReadExactly(pickle.Data.Start, pickleBytes);
        var (root, storages) = PickleReader.Read(pickleBytes, path, pickle.Data.Start, limits);

        var ranges = new Dictionary<string, ByteRange>(storages.Count, StringComparer.Ordinal);
        foreach (TorchStorage s in storages.Values)
        {
            ZipEntry record = zip.FindRecord(StorageRecordPrefix + s.Key)
                ?? throw new CheckpointFormatException(path, null, $"storage '{s.Key}' ({s.ElementCount} x {s.DType}) has no record {zip.ArchiveName}/{StorageRecordPrefix}{s.Key}");
            if (record.Length != s.ByteLength)
                throw new CheckpointFormatException(path, record.Data.Start, $"storage record {record.Name} has {record.Length} bytes but the pickle declares {s.ElementCount} x {s.DType} = {s.ByteLength} bytes");
            ranges.Add(s.Key, record.Data);
        }
        return new TorchArchive(path, zip, root, storages, ranges, version);
    }

    /// <summary>Opens a file by path (convenience over <see cref="Open(IByteSource, PickleLimits?)"/>).</summary>
    public static TorchArchive Open(string path, PickleLimits? limits = null)
    {
        using var source = new FileByteSource(path);
        return Open(source, limits);
    }

    private static void RejectNonZip(IByteSource source)
    {
        string path = source.Path;
        Span<byte> head = stackalloc byte[4];
        if (source.Length < head.Length)
            throw new CheckpointFormatException(path, 0, $"file has {source.Length} bytes; a torch.save file starts with a 4-byte zip signature");
        source.ReadExactly(0, head);
        if (head.SequenceEqual(ZipMagic)) return;
        if (head[0] == PickleOpcodes.Proto || IsTar(source))
            throw new UnsupportedCheckpointException(path, "this is a legacy (pre-zip) torch.save file, which ckptmpi does not read; re-save it once with a recent torch, which writes the zip format: torch.save(torch.load(f, map_location='cpu', weights_only=False), f)");
        throw new CheckpointFormatException(path, 0, $"file starts with {Convert.ToHexString(head)}, not a zip local header (504B0304); not a torch.save file");
    }

    // The ancient torch format is a tar archive: "ustar" at offset 257.
    private static bool IsTar(IByteSource source)
    {
        const int UstarOffset = 257;
        Span<byte> magic = stackalloc byte[5];
        if (source.Length < UstarOffset + magic.Length) return false;
        source.ReadExactly(UstarOffset, magic);
        return magic.SequenceEqual("ustar"u8);
    }

    private static int ReadVersion(IByteSource source, ZipDirectory zip)
    {
        ZipEntry entry = zip.FindRecord(VersionRecord) ?? zip.FindRecord(TorchScriptVersionRecord)
            ?? throw new CheckpointFormatException(source.Path, null, $"archive '{zip.ArchiveName}' has no version record; torch.load would refuse it");
        string text = ReadSmallRecord(source, entry, 32).Trim();
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int v) || v < 1)
            throw new CheckpointFormatException(source.Path, entry.Data.Start, $"version record '{text}' is not a positive integer");
        if (v > MaxSupportedVersion)
            throw new UnsupportedCheckpointException(source.Path, $"archive version {v} is newer than any torch writes today ({MaxSupportedVersion})");
        return v;
    }

    private static string ReadSmallRecord(IByteSource source, ZipEntry entry, int maxLength)
    {
        if (entry.Length > maxLength)
            throw new CheckpointFormatException(source.Path, entry.Data.Start, $"record {entry.Name} has {entry.Length} bytes; expected at most {maxLength}");
        var bytes = new byte[entry.Length];
        source.ReadExactly(entry.Data.Start, bytes);
        return Encoding.ASCII.GetString(bytes);
    }
}
