using System.Buffers.Binary;

namespace Ckptmpi.Formats.Torch.Zip;

// The zip64 end of central directory locator (torch's writer always emits it).

/// <summary>The zip64 locator (20 bytes), immediately before the classic end record: where the zip64 end record is.</summary>
internal readonly record struct Zip64Locator(uint Zip64EndDisk, ulong Zip64EndOffset, uint TotalDisks)
{
    private const int Zip64EndDiskOffset = sizeof(uint);
    private const int Zip64EndOffsetOffset = Zip64EndDiskOffset + sizeof(uint);
    private const int TotalDisksOffset = Zip64EndOffsetOffset + sizeof(ulong);

    /// <summary>Size of the locator (20 bytes).</summary>
    public const int Size = TotalDisksOffset + sizeof(uint);

    public static bool TryRead(ReadOnlySpan<byte> b, out Zip64Locator locator)
    {
        locator = default;
        if (b.Length < Size || BinaryPrimitives.ReadUInt32LittleEndian(b) != ZipConstants.Zip64LocatorSignature) return false;
        locator = new Zip64Locator(
            BinaryPrimitives.ReadUInt32LittleEndian(b[Zip64EndDiskOffset..]),
            BinaryPrimitives.ReadUInt64LittleEndian(b[Zip64EndOffsetOffset..]),
            BinaryPrimitives.ReadUInt32LittleEndian(b[TotalDisksOffset..]));
        return true;
    }

    public void Write(Span<byte> b)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(b, ZipConstants.Zip64LocatorSignature);
        BinaryPrimitives.WriteUInt32LittleEndian(b[Zip64EndDiskOffset..], Zip64EndDisk);
        BinaryPrimitives.WriteUInt64LittleEndian(b[Zip64EndOffsetOffset..], Zip64EndOffset);
        BinaryPrimitives.WriteUInt32LittleEndian(b[TotalDisksOffset..], TotalDisks);
    }
}
