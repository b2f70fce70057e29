using System.Buffers.Binary;

namespace Ckptmpi.Formats.Torch.Zip;

// The data descriptor after each non-empty record (CRC-32 and sizes; 64-bit sizes for zip64 entries).

/// <summary>
/// The data descriptor torch writes right after each non-empty record's data: signature, CRC-32, then the
/// compressed and uncompressed sizes as u32 (16 bytes) or, for zip64 entries, as u64 (24 bytes).
/// </summary>
internal static class ZipDataDescriptor
{
    public const int Crc32Offset = sizeof(uint);
    private const int SizesOffset = Crc32Offset + sizeof(uint);
    public const int Size = SizesOffset + (2 * sizeof(uint));
    public const int Zip64Size = SizesOffset + (2 * sizeof(ulong));

    public static int SizeFor(bool zip64) => zip64 ? Zip64Size : Size;

    /// <summary>Writes the descriptor; the CRC is a placeholder when the caller patches it later.</summary>
    public static void Write(Span<byte> b, uint crc32, long length, bool zip64)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(b, ZipConstants.DataDescriptorSignature);
        BinaryPrimitives.WriteUInt32LittleEndian(b[Crc32Offset..], crc32);
        if (zip64)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(b[SizesOffset..], (ulong)length);
            BinaryPrimitives.WriteUInt64LittleEndian(b[(SizesOffset + sizeof(ulong))..], (ulong)length);
        }
        else
        {
            BinaryPrimitives.WriteUInt32LittleEndian(b[SizesOffset..], (uint)length);
            BinaryPrimitives.WriteUInt32LittleEndian(b[(SizesOffset + sizeof(uint))..], (uint)length);
        }
    }
}
