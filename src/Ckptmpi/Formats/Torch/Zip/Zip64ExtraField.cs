using System.Buffers.Binary;
using Ckptmpi.Errors;

namespace Ckptmpi.Formats.Torch.Zip;

// The zip64 extended-information extra field (tag 0x0001) of local and central headers.

/// <summary>
/// The zip64 extra field: 64-bit values for exactly those header fields that hold the 0xFFFFFFFF marker, in the
/// fixed order uncompressed size, compressed size, local header offset, disk number.
/// </summary>
internal readonly record struct Zip64ExtraField(ulong? UncompressedSize, ulong? CompressedSize, ulong? LocalHeaderOffset)
{
    /// <summary>Finds and decodes the zip64 field among the extra fields; other fields (torch's 'FB' padding) are skipped.</summary>
    public static Zip64ExtraField Parse(string path, long at, ReadOnlySpan<byte> extra, bool needUncompressed, bool needCompressed, bool needOffset, bool needDisk)
    {
        if (!needUncompressed && !needCompressed && !needOffset && !needDisk) return default;
        while (extra.Length >= ZipConstants.ExtraFieldHeaderSize)
        {
            ushort tag = BinaryPrimitives.ReadUInt16LittleEndian(extra);
            int size = BinaryPrimitives.ReadUInt16LittleEndian(extra[sizeof(ushort)..]);
            ReadOnlySpan<byte> body = extra[ZipConstants.ExtraFieldHeaderSize..];
            if (size > body.Length)
                throw new CheckpointFormatException(path, at, $"extra field 0x{tag:X4} declares {size} bytes but only {body.Length} remain");
            body = body[..size];
            if (tag == ZipConstants.Zip64ExtraTag)
            {
                int needed = (needUncompressed ? 8 : 0) + (needCompressed ? 8 : 0) + (needOffset ? 8 : 0) + (needDisk ? 4 : 0);
                if (body.Length < needed)
                    throw new CheckpointFormatException(path, at, $"zip64 extra field has {body.Length} bytes but the header needs {needed}");
                ulong? u = null, c = null, o = null;
                if (needUncompressed) { u = BinaryPrimitives.ReadUInt64LittleEndian(body); body = body[8..]; }
                if (needCompressed) { c = BinaryPrimitives.ReadUInt64LittleEndian(body); body = body[8..]; }
                if (needOffset) { o = BinaryPrimitives.ReadUInt64LittleEndian(body); }
                return new Zip64ExtraField(u, c, o);
            }
            extra = extra[(ZipConstants.ExtraFieldHeaderSize + size)..];
        }
        throw new CheckpointFormatException(path, at, "header fields say their values are in a zip64 extra field, but there is none");
    }
}
