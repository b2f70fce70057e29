using System.Buffers.Binary;
using System.Text;
using Ckptmpi.Formats.Torch.Pickle;
using Ckptmpi.Formats.Torch.Zip;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Checksums;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Formats.Torch;

// Record order, folder name and every byte of the zip framing: docs/formats/torch.md.

/// <summary>
/// Plans a torch.save zip file as a pure function of the object graph: no I/O, no tensor data. Records are
/// written in the torch 2.1+ order <c>data.pkl, byteorder, data/&lt;k&gt;..., version, .data/serialization_id</c>,
/// storages in first-use order, each record's data 64-byte aligned with torch's <c>FB</c> extra field, a data
/// descriptor after every non-empty record, and the zip64 end record and locator always present.
/// </summary>
public static class TorchArchiveLayout
{
    /// <summary>torch.save's archive format version (the <c>version</c> record).</summary>
    public const string VersionText = "3\n";
    public const string ByteOrderText = "little";

    /// <summary>The serialization id is only logged by torch.load; any 40 digits do.</summary>
    private static readonly string SerializationId = new('0', 40);

    private const uint ZipUtf8AndDescriptorFlags = ZipConstants.FlagUtf8 | ZipConstants.FlagDataDescriptor;

    /// <summary>The archive folder torch would use for a file name: the name without directory and last extension; <c>archive</c> for non-ASCII names.</summary>
    public static string ArchiveNameFor(string fileName)
    {
        string stem = Path.GetFileNameWithoutExtension(fileName);
        return stem.Length == 0 || !Ascii.IsValid(stem) ? "archive" : stem;
    }

    /// <summary>Plans the complete file for <paramref name="root"/> under folder <paramref name="archiveName"/>.</summary>
    /// <exception cref="ArgumentException">The graph cannot be pickled (cycle, bad storage keys) or the archive name is empty or has '/'.</exception>
    public static TorchArchivePlan Plan(PyValue root, string archiveName)
    {
        CheckArchiveName(archiveName);
        var (pickle, storages) = PickleWriter.Write(root);
        return Plan(pickle, storages, archiveName);
    }

    /// <summary>
    /// Plans the file around an object graph already pickled (<see cref="Pickle"/>): files whose graphs are the same
    /// object (ZeRO-3's model-state files of every rank but 0) pickle it once and differ only in their archive folder.
    /// </summary>
    public static TorchArchivePlan Plan(byte[] pickle, IReadOnlyList<TorchStorage> storages, string archiveName)
    {
        CheckArchiveName(archiveName);

        var records = new List<Record>(storages.Count + 4)
        {
            Record.Literal("data.pkl", pickle),
            Record.Literal("byteorder", Encoding.ASCII.GetBytes(ByteOrderText)),
        };
        records.AddRange(storages.Select(s => new Record("data/" + s.Key, s.ByteLength, null, s)));
        records.Add(Record.Literal("version", Encoding.ASCII.GetBytes(VersionText)));
        records.Add(Record.Literal(".data/serialization_id", Encoding.ASCII.GetBytes(SerializationId)));

        var literal = new LiteralBuilder();
        var placed = new List<Placed>(records.Count);
        var storageData = new Dictionary<string, ByteRange>(storages.Count, StringComparer.Ordinal);
        foreach (Record r in records)
        {
            Placed p = PlaceRecord(literal, archiveName, r);
            placed.Add(p);
            if (r.Storage is not null) storageData.Add(r.Storage.Key, p.Data);
        }

        long cdOffset = literal.Position;
        var crc = new List<Crc32Field>(storages.Count);
        foreach (Placed p in placed)
        {
            long crcAt = WriteCentralHeader(literal, archiveName, p);
            if (p.Record.Storage is not null && p.Record.Length > 0)
                crc.Add(new Crc32Field(p.Data, [p.DescriptorCrcOffset, crcAt]));
        }
        long cdSize = literal.Position - cdOffset;
        WriteEndRecords(literal, placed.Count, cdOffset, cdSize);
        return new TorchArchivePlan(archiveName, pickle, storages, literal.Segments(), storageData, crc, literal.Position);
    }

    /// <summary>The pickle of <paramref name="root"/> and its storages in key order (what <see cref="Plan(byte[], IReadOnlyList{TorchStorage}, string)"/> takes).</summary>
    /// <exception cref="ArgumentException">The graph cannot be pickled (cycle, bad storage keys).</exception>
    public static (byte[] Pickle, IReadOnlyList<TorchStorage> Storages) Pickle(PyValue root) => PickleWriter.Write(root);

    private static void CheckArchiveName(string archiveName)
    {
        ArgumentException.ThrowIfNullOrEmpty(archiveName);
        if (archiveName.Contains('/') || archiveName.Contains('\\')) throw new ArgumentException($"archive name '{archiveName}' must not contain a path separator", nameof(archiveName));
    }

    private static Placed PlaceRecord(LiteralBuilder w, string archiveName, Record r)
    {
        byte[] name = Encoding.UTF8.GetBytes(archiveName + "/" + r.Name);
        long cursor = w.Position;
        bool bigSize = r.Length >= ZipConstants.Zip64Marker32;
        bool bigOffset = cursor >= ZipConstants.Zip64Marker32;
        bool zip64 = bigSize || bigOffset;
        int zip64Body = (bigSize ? 2 * sizeof(ulong) : 0) + (bigOffset ? sizeof(ulong) : 0);
        int zip64Field = zip64 ? ZipConstants.ExtraFieldHeaderSize + zip64Body : 0;
        // torch's getPadding: the data after the FB field header starts on a 64-byte boundary.
        long unpadded = cursor + ZipLocalHeader.Size + name.Length + zip64Field + ZipConstants.ExtraFieldHeaderSize;
        int pad = (int)((ZipConstants.TorchAlignment - (unpadded % ZipConstants.TorchAlignment)) % ZipConstants.TorchAlignment);
        int extraLength = zip64Field + ZipConstants.ExtraFieldHeaderSize + pad;

        ushort flags = (ushort)(r.Length > 0 ? ZipUtf8AndDescriptorFlags : ZipConstants.FlagUtf8);
        Span<byte> header = w.Append(ZipLocalHeader.Size + name.Length + extraLength);
        new ZipLocalHeader(0, flags, ZipConstants.MethodStored, 0, 0, 0, (ushort)name.Length, (ushort)extraLength).Write(header);
        name.CopyTo(header[ZipLocalHeader.Size..]);
        Span<byte> extra = header[(ZipLocalHeader.Size + name.Length)..];
        if (zip64)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(extra, ZipConstants.Zip64ExtraTag);
            BinaryPrimitives.WriteUInt16LittleEndian(extra[2..], (ushort)zip64Body);
            Span<byte> body = extra[ZipConstants.ExtraFieldHeaderSize..];
            if (bigSize)
            {
                BinaryPrimitives.WriteUInt64LittleEndian(body, (ulong)r.Length);
                BinaryPrimitives.WriteUInt64LittleEndian(body[sizeof(ulong)..], 0); // torch writes 0 for the local compressed size
                body = body[(2 * sizeof(ulong))..];
            }
            if (bigOffset) BinaryPrimitives.WriteUInt64LittleEndian(body, (ulong)cursor);
            extra = extra[zip64Field..];
        }
        BinaryPrimitives.WriteUInt16LittleEndian(extra, ZipConstants.TorchPaddingExtraTag);
        BinaryPrimitives.WriteUInt16LittleEndian(extra[2..], (ushort)pad);
        extra.Slice(ZipConstants.ExtraFieldHeaderSize, pad).Fill(ZipConstants.TorchPaddingByte);

        ByteRange data;
        uint crc = 0;
        if (r.Bytes is not null)
        {
            data = ByteRange.FromLength(w.Position, r.Bytes.Length);
            r.Bytes.CopyTo(w.Append(r.Bytes.Length));
            crc = Crc32.Compute(r.Bytes);
        }
        else
        {
            data = w.Skip(r.Length); // the caller fills storage data
        }
        long descriptorCrcAt = -1;
        if (r.Length > 0)
        {
            descriptorCrcAt = w.Position + ZipDataDescriptor.Crc32Offset;
            ZipDataDescriptor.Write(w.Append(ZipDataDescriptor.SizeFor(zip64)), crc, r.Length, zip64);
        }
        return new Placed(r, name, cursor, data, crc, flags, descriptorCrcAt);
    }

    /// <summary>Writes one central header; returns the file offset of its CRC field.</summary>
    private static long WriteCentralHeader(LiteralBuilder w, string archiveName, Placed p)
    {
        bool bigSize = p.Record.Length >= ZipConstants.Zip64Marker32;
        bool bigOffset = p.LocalHeaderOffset >= ZipConstants.Zip64Marker32;
        int zip64Body = (bigSize ? 2 * sizeof(ulong) : 0) + (bigOffset ? sizeof(ulong) : 0);
        int extraLength = zip64Body > 0 ? ZipConstants.ExtraFieldHeaderSize + zip64Body : 0;
        uint size32 = bigSize ? ZipConstants.Zip64Marker32 : (uint)p.Record.Length;
        uint offset32 = bigOffset ? ZipConstants.Zip64Marker32 : (uint)p.LocalHeaderOffset;

        long at = w.Position;
        Span<byte> b = w.Append(ZipCentralHeader.Size + p.Name.Length + extraLength);
        new ZipCentralHeader(p.Flags, ZipConstants.MethodStored, p.Crc, size32, size32, (ushort)p.Name.Length, (ushort)extraLength, 0, 0, offset32).Write(b);
        p.Name.CopyTo(b[ZipCentralHeader.Size..]);
        if (extraLength > 0)
        {
            Span<byte> extra = b[(ZipCentralHeader.Size + p.Name.Length)..];
            BinaryPrimitives.WriteUInt16LittleEndian(extra, ZipConstants.Zip64ExtraTag);
            BinaryPrimitives.WriteUInt16LittleEndian(extra[2..], (ushort)zip64Body);
            Span<byte> body = extra[ZipConstants.ExtraFieldHeaderSize..];
            if (bigSize)
            {
                BinaryPrimitives.WriteUInt64LittleEndian(body, (ulong)p.Record.Length);
                BinaryPrimitives.WriteUInt64LittleEndian(body[sizeof(ulong)..], (ulong)p.Record.Length);
                body = body[(2 * sizeof(ulong))..];
            }
            if (bigOffset) BinaryPrimitives.WriteUInt64LittleEndian(body, (ulong)p.LocalHeaderOffset);
        }
        return at + ZipCentralHeader.Crc32Offset;
    }

    private static void WriteEndRecords(LiteralBuilder w, int entries, long cdOffset, long cdSize)
    {
        long z64At = w.Position;
        new Zip64EndRecord(Zip64EndRecord.SizeAfterLengthField, ZipConstants.Zip64VersionMadeBy, ZipConstants.Zip64VersionNeeded, 0, 0,
            (ulong)entries, (ulong)entries, (ulong)cdSize, (ulong)cdOffset).Write(w.Append(Zip64EndRecord.Size));
        new Zip64Locator(0, (ulong)z64At, 1).Write(w.Append(Zip64Locator.Size));
        ushort entries16 = entries >= ZipConstants.Zip64Marker16 ? ZipConstants.Zip64Marker16 : (ushort)entries;
        uint size32 = cdSize >= ZipConstants.Zip64Marker32 ? ZipConstants.Zip64Marker32 : (uint)cdSize;
        uint offset32 = cdOffset >= ZipConstants.Zip64Marker32 ? ZipConstants.Zip64Marker32 : (uint)cdOffset;
        new ZipEndRecord(0, 0, entries16, entries16, size32, offset32, 0).Write(w.Append(ZipEndRecord.Size));
    }

    /// <summary>A record to place: literal bytes, or a storage's data region of <see cref="Length"/> bytes.</summary>
    private sealed record Record(string Name, long Length, byte[]? Bytes, TorchStorage? Storage)
    {
        public static Record Literal(string name, byte[] bytes) => new(name, bytes.Length, bytes, null);
    }

    private sealed record Placed(Record Record, byte[] Name, long LocalHeaderOffset, ByteRange Data, uint Crc, ushort Flags, long DescriptorCrcOffset);

    /// <summary>Accumulates literal bytes; <see cref="Skip"/> leaves a hole for storage data and starts a new segment.</summary>
    private sealed class LiteralBuilder
    {
        private readonly List<LiteralSegment> _done = new();
        private readonly MemoryStream _current = new();
        private long _currentStart;

        public long Position => _currentStart + _current.Length;

        public Span<byte> Append(int n)
        {
            long at = _current.Length;
            _current.SetLength(at + n);
            return _current.GetBuffer().AsSpan((int)at, n);
        }

        public ByteRange Skip(long n)
        {
            var range = ByteRange.FromLength(Position, n);
            if (n == 0) return range;
            Flush();
            _currentStart = range.End;
            return range;
        }

        public IReadOnlyList<LiteralSegment> Segments()
        {
            Flush();
            return _done;
        }

        private void Flush()
        {
            if (_current.Length > 0) _done.Add(new LiteralSegment(_currentStart, _current.ToArray()));
            _currentStart = Position;
            _current.SetLength(0);
        }
    }
}
