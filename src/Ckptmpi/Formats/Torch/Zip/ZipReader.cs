using System.Text;
using Ckptmpi.Errors;
using Ckptmpi.Tensors;

namespace Ckptmpi.Formats.Torch.Zip;

// The reader side of the torch.save zip (docs/formats/torch.md).

/// <summary>
/// Reads and validates the central directory of a stored (uncompressed) zip: end record, zip64 locator and
/// record, central headers with zip64 extra fields, and each local header re-checked against its central header.
/// Reads only the tail and the headers (never record data); records are returned as byte ranges of the file.
/// </summary>
public static class ZipReader
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Reads the directory of <paramref name="source"/>.</summary>
    /// <exception cref="CheckpointFormatException">The file is not a well-formed stored zip, or an entry name is unsafe.</exception>
    public static ZipDirectory Read(IByteSource source)
    {
        string path = source.Path;
        long length = source.Length;
        if (length < ZipEndRecord.Size)
            throw new CheckpointFormatException(path, 0, $"file has {length} bytes, too short for a zip archive; the file is truncated or not a torch.save file");

        // The end record is the last thing in the file, possibly followed by a comment: scan back that far.
        int tailLength = (int)Math.Min(length, ZipEndRecord.Size + ZipConstants.MaxCommentLength + Zip64Locator.Size);
        long tailStart = length - tailLength;
        byte[] tail = new byte[tailLength];
        source.ReadExactly(tailStart, tail);

        int endAt = -1;
        ZipEndRecord end = default;
        for (int i = tailLength - ZipEndRecord.Size; i >= 0; i--)
        {
            if (ZipEndRecord.TryRead(tail.AsSpan(i), out end) && i + ZipEndRecord.Size + end.CommentLength == tailLength)
            {
                endAt = i;
                break;
            }
        }
        if (endAt < 0)
            throw new CheckpointFormatException(path, length, "no zip end-of-central-directory record at the end of the file; the file is truncated or not a torch.save file");
        long endOffset = tailStart + endAt;

        ulong entryCount = end.TotalEntries;
        ulong cdSize = end.CentralDirectorySize;
        ulong cdOffset = end.CentralDirectoryOffset;
        long cdLimit = endOffset; // the central directory must end before the records that follow it
        if (end.DiskNumber != 0 || end.CentralDirectoryDisk != 0 || end.EntriesOnDisk != end.TotalEntries)
            throw new CheckpointFormatException(path, endOffset, "multi-disk zip archives are not supported");

        long locatorOffset = endOffset - Zip64Locator.Size;
        if (locatorOffset >= 0 && Zip64Locator.TryRead(tail.AsSpan((int)(locatorOffset - tailStart)), out Zip64Locator locator))
        {
            if (locator.Zip64EndOffset > (ulong)locatorOffset || (ulong)locatorOffset - locator.Zip64EndOffset < Zip64EndRecord.Size)
                throw new CheckpointFormatException(path, locatorOffset, $"zip64 locator points to {locator.Zip64EndOffset}, which leaves no room for the zip64 end record before the locator");
            long z64Offset = (long)locator.Zip64EndOffset;
            Span<byte> z64Bytes = stackalloc byte[Zip64EndRecord.Size];
            source.ReadExactly(z64Offset, z64Bytes);
            if (!Zip64EndRecord.TryRead(z64Bytes, out Zip64EndRecord z64))
                throw new CheckpointFormatException(path, z64Offset, "zip64 locator does not point to a zip64 end-of-central-directory record");
            if (z64.RecordSize < Zip64EndRecord.SizeAfterLengthField || z64.DiskNumber != 0 || z64.CentralDirectoryDisk != 0 || z64.EntriesOnDisk != z64.TotalEntries)
                throw new CheckpointFormatException(path, z64Offset, "zip64 end record is malformed (size field, disk numbers or entry counts)");
            entryCount = z64.TotalEntries;
            cdSize = z64.CentralDirectorySize;
            cdOffset = z64.CentralDirectoryOffset;
            cdLimit = z64Offset;
        }
        else if (end.TotalEntries == ZipConstants.Zip64Marker16 || end.CentralDirectorySize == ZipConstants.Zip64Marker32 || end.CentralDirectoryOffset == ZipConstants.Zip64Marker32)
        {
            throw new CheckpointFormatException(path, endOffset, "end record says the values are in a zip64 record, but there is no zip64 locator before it");
        }

        if (cdSize > (ulong)ZipConstants.MaxCentralDirectorySize)
            throw new CheckpointFormatException(path, endOffset, $"central directory size {cdSize} exceeds the {ZipConstants.MaxCentralDirectorySize}-byte limit");
        if (cdOffset > (ulong)cdLimit || cdSize > (ulong)cdLimit - cdOffset)
            throw new CheckpointFormatException(path, endOffset, $"central directory [{cdOffset}, {cdOffset + cdSize}) does not end before offset {cdLimit}; the file is truncated or the offsets are wrong");
        if (entryCount > cdSize / ZipCentralHeader.Size)
            throw new CheckpointFormatException(path, endOffset, $"{entryCount} entries cannot fit in a {cdSize}-byte central directory");

        var cd = new byte[(int)cdSize];
        source.ReadExactly((long)cdOffset, cd);
        var entries = ReadEntries(source, cd, (long)cdOffset, (int)entryCount);
        string archive = ArchiveNameOf(path, entries, (long)cdOffset);
        CheckNoOverlap(path, entries);
        return new ZipDirectory(path, archive, entries);
    }

    private static List<ZipEntry> ReadEntries(IByteSource source, byte[] cd, long cdOffset, int count)
    {
        string path = source.Path;
        var entries = new List<ZipEntry>(count);
        var names = new HashSet<string>(StringComparer.Ordinal);
        int pos = 0;
        for (int i = 0; i < count; i++)
        {
            long at = cdOffset + pos;
            if (!ZipCentralHeader.TryRead(cd.AsSpan(pos), out ZipCentralHeader h))
                throw new CheckpointFormatException(path, at, $"central directory entry {i} has no valid signature");
            if (h.TotalSize > cd.Length - pos)
                throw new CheckpointFormatException(path, at, $"central directory entry {i} runs past the end of the central directory");
            ReadOnlySpan<byte> nameBytes = cd.AsSpan(pos + ZipCentralHeader.Size, h.NameLength);
            ReadOnlySpan<byte> extra = cd.AsSpan(pos + ZipCentralHeader.Size + h.NameLength, h.ExtraLength);
            string name = DecodeName(path, at, nameBytes);
            ValidateName(path, at, name);
            if (!names.Add(name))
                throw new CheckpointFormatException(path, at, $"entry '{name}' appears twice in the central directory");
            if ((h.Flags & ZipConstants.FlagEncrypted) != 0)
                throw new CheckpointFormatException(path, at, $"entry '{name}' is encrypted; torch.save never encrypts");
            if (h.Method != ZipConstants.MethodStored)
                throw new CheckpointFormatException(path, at, $"entry '{name}' is compressed (method {h.Method}); torch.save archives store records uncompressed, re-save the file with torch.save");

            var z64 = Zip64ExtraField.Parse(path, at, extra,
                h.UncompressedSize == ZipConstants.Zip64Marker32, h.CompressedSize == ZipConstants.Zip64Marker32,
                h.LocalHeaderOffset == ZipConstants.Zip64Marker32, h.DiskNumber == ZipConstants.Zip64Marker16);
            ulong size = z64.UncompressedSize ?? h.UncompressedSize;
            ulong compressed = z64.CompressedSize ?? h.CompressedSize;
            ulong localOffset = z64.LocalHeaderOffset ?? h.LocalHeaderOffset;
            if (size != compressed)
                throw new CheckpointFormatException(path, at, $"stored entry '{name}' declares {compressed} compressed but {size} uncompressed bytes");
            if (localOffset > (ulong)cdOffset || size > (ulong)cdOffset)
                throw new CheckpointFormatException(path, at, $"entry '{name}' declares local header at {localOffset} and {size} bytes, beyond the central directory at {cdOffset}");

            ByteRange data = ReadLocalHeader(source, (long)localOffset, h, nameBytes, name, (long)size, cdOffset);
            entries.Add(new ZipEntry(name, data, h.Crc32, (long)localOffset));
            pos += h.TotalSize;
        }
        if (pos != cd.Length)
            throw new CheckpointFormatException(path, cdOffset + pos, $"central directory has {cd.Length - pos} bytes after its {count} declared entries");
        return entries;
    }

    // Torch (and mmap loads) find the data through the local header, so it must agree with the central one.
    private static ByteRange ReadLocalHeader(IByteSource source, long offset, in ZipCentralHeader central, ReadOnlySpan<byte> centralName, string name, long size, long cdOffset)
    {
        string path = source.Path;
        if (offset > cdOffset - ZipLocalHeader.Size - centralName.Length)
            throw new CheckpointFormatException(path, offset, $"local header of '{name}' would overlap the central directory at {cdOffset}");
        byte[] buffer = new byte[ZipLocalHeader.Size + centralName.Length];
        source.ReadExactly(offset, buffer);
        if (!ZipLocalHeader.TryRead(buffer, out ZipLocalHeader local))
            throw new CheckpointFormatException(path, offset, $"no local file header where the central directory puts '{name}'");
        if (local.NameLength != central.NameLength || !buffer.AsSpan(ZipLocalHeader.Size).SequenceEqual(centralName))
            throw new CheckpointFormatException(path, offset, $"local header name differs from the central directory name '{name}'");
        if (local.Method != central.Method || (local.Flags & ZipConstants.FlagEncrypted) != 0)
            throw new CheckpointFormatException(path, offset, $"local header of '{name}' disagrees with the central directory on method or encryption");
        if ((local.Flags & ZipConstants.FlagDataDescriptor) == 0)
        {
            // Without a data descriptor the local sizes are authoritative: they must match (zip64 defers them to its extra field).
            bool sizesMatch = (local.UncompressedSize == ZipConstants.Zip64Marker32 || local.UncompressedSize == (ulong)size)
                && (local.CompressedSize == ZipConstants.Zip64Marker32 || local.CompressedSize == (ulong)size);
            if (!sizesMatch || local.Crc32 != central.Crc32)
                throw new CheckpointFormatException(path, offset, $"local header of '{name}' disagrees with the central directory on size or CRC");
        }
        long dataStart = checked(offset + ZipLocalHeader.Size + local.NameLength + local.ExtraLength);
        if (dataStart > cdOffset || size > cdOffset - dataStart)
            throw new CheckpointFormatException(path, offset, $"data of '{name}' ([{dataStart}, {dataStart + size})) runs into the central directory at {cdOffset}");
        return ByteRange.FromLength(dataStart, size);
    }

    private static string DecodeName(string path, long at, ReadOnlySpan<byte> bytes)
    {
        try
        {
            return StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException e)
        {
            throw new CheckpointFormatException(path, at, "entry name is not valid UTF-8", inner: e);
        }
    }

    /// <summary>Rejects names that could escape a folder if anyone ever extracted them, or that torch never writes.</summary>
    private static void ValidateName(string path, long at, string name)
    {
        bool bad = name.Length == 0 || name[0] == '/' || name.Contains('\\') || name.Contains('\0')
            || (name.Length >= 2 && name[1] == ':')
            || name.Split('/').Any(s => s == "..");
        if (bad)
            throw new CheckpointFormatException(path, at, $"unsafe zip entry name '{name}' (empty, absolute, backslash, drive letter or '..')");
    }

    private static string ArchiveNameOf(string path, List<ZipEntry> entries, long cdOffset)
    {
        if (entries.Count == 0)
            throw new CheckpointFormatException(path, cdOffset, "zip archive has no entries; a torch.save file has at least data.pkl and version");
        string first = entries[0].Name;
        int slash = first.IndexOf('/');
        if (slash <= 0)
            throw new CheckpointFormatException(path, cdOffset, $"first entry '{first}' is not inside a folder; torch.save puts every record under '<archive>/'");
        string archive = first[..slash];
        foreach (ZipEntry e in entries)
        {
            if (!e.Name.StartsWith(archive + "/", StringComparison.Ordinal))
                throw new CheckpointFormatException(path, e.LocalHeaderOffset, $"entry '{e.Name}' is not inside the archive folder '{archive}/'");
        }
        return archive;
    }

    private static void CheckNoOverlap(string path, List<ZipEntry> entries)
    {
        long previousEnd = 0;
        string? previous = null;
        foreach (ZipEntry e in entries.OrderBy(e => e.LocalHeaderOffset))
        {
            if (e.LocalHeaderOffset < previousEnd)
                throw new CheckpointFormatException(path, e.LocalHeaderOffset, $"entry '{e.Name}' starts inside the data of '{previous}' (which ends at {previousEnd})");
            previousEnd = e.Data.End;
            previous = e.Name;
        }
    }
}
