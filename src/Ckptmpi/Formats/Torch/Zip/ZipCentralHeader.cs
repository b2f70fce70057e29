using System.Buffers.Binary;

namespace Ckptmpi.Formats.Torch.Zip;

// The zip central directory header, as PyTorch's writer fills it (docs/formats/torch.md).

/// <summary>A zip central directory header: 46 fixed bytes, then name, extra field and comment.</summary>
internal readonly record struct ZipCentralHeader(ushort Flags, ushort Method, uint Crc32, uint CompressedSize, uint UncompressedSize, ushort NameLength, ushort ExtraLength, ushort CommentLength, ushort DiskNumber, uint LocalHeaderOffset)
{
    private const int SignatureOffset = 0;
    private const int VersionMadeByOffset = SignatureOffset + sizeof(uint);
    private const int VersionNeededOffset = VersionMadeByOffset + sizeof(ushort);
    private const int FlagsOffset = VersionNeededOffset + sizeof(ushort);
    private const int MethodOffset = FlagsOffset + sizeof(ushort);
    private const int TimeOffset = MethodOffset + sizeof(ushort);
    private const int DateOffset = TimeOffset + sizeof(ushort);
    public const int Crc32Offset = DateOffset + sizeof(ushort);
    private const int CompressedSizeOffset = Crc32Offset + sizeof(uint);
    private const int UncompressedSizeOffset = CompressedSizeOffset + sizeof(uint);
    private const int NameLengthOffset = UncompressedSizeOffset + sizeof(uint);
    private const int ExtraLengthOffset = NameLengthOffset + sizeof(ushort);
    private const int CommentLengthOffset = ExtraLengthOffset + sizeof(ushort);
    private const int DiskNumberOffset = CommentLengthOffset + sizeof(ushort);
    private const int InternalAttributesOffset = DiskNumberOffset + sizeof(ushort);
    private const int ExternalAttributesOffset = InternalAttributesOffset + sizeof(ushort);
    private const int LocalHeaderOffsetOffset = ExternalAttributesOffset + sizeof(uint);

    /// <summary>Size of the fixed part (46 bytes).</summary>
    public const int Size = LocalHeaderOffsetOffset + sizeof(uint);

    /// <summary>Bytes of this header including its variable parts.</summary>
    public int TotalSize => Size + NameLength + ExtraLength + CommentLength;

    public static bool TryRead(ReadOnlySpan<byte> b, out ZipCentralHeader header)
    {
        header = default;
        if (b.Length < Size || BinaryPrimitives.ReadUInt32LittleEndian(b) != ZipConstants.CentralHeaderSignature) return false;
        header = new ZipCentralHeader(
            BinaryPrimitives.ReadUInt16LittleEndian(b[FlagsOffset..]),
            BinaryPrimitives.ReadUInt16LittleEndian(b[MethodOffset..]),
            BinaryPrimitives.ReadUInt32LittleEndian(b[Crc32Offset..]),
            BinaryPrimitives.ReadUInt32LittleEndian(b[CompressedSizeOffset..]),
            BinaryPrimitives.ReadUInt32LittleEndian(b[UncompressedSizeOffset..]),
            BinaryPrimitives.ReadUInt16LittleEndian(b[NameLengthOffset..]),
            BinaryPrimitives.ReadUInt16LittleEndian(b[ExtraLengthOffset..]),
            BinaryPrimitives.ReadUInt16LittleEndian(b[CommentLengthOffset..]),
            BinaryPrimitives.ReadUInt16LittleEndian(b[DiskNumberOffset..]),
            BinaryPrimitives.ReadUInt32LittleEndian(b[LocalHeaderOffsetOffset..]));
        return true;
    }

    /// <summary>Writes the fixed part with torch's values for the fields it always zeroes (versions, time, attributes).</summary>
    public void Write(Span<byte> b)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(b, ZipConstants.CentralHeaderSignature);
        BinaryPrimitives.WriteUInt16LittleEndian(b[VersionMadeByOffset..], 0);
        BinaryPrimitives.WriteUInt16LittleEndian(b[VersionNeededOffset..], 0);
        BinaryPrimitives.WriteUInt16LittleEndian(b[FlagsOffset..], Flags);
        BinaryPrimitives.WriteUInt16LittleEndian(b[MethodOffset..], Method);
        BinaryPrimitives.WriteUInt16LittleEndian(b[TimeOffset..], 0);
        BinaryPrimitives.WriteUInt16LittleEndian(b[DateOffset..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(b[Crc32Offset..], Crc32);
        BinaryPrimitives.WriteUInt32LittleEndian(b[CompressedSizeOffset..], CompressedSize);
        BinaryPrimitives.WriteUInt32LittleEndian(b[UncompressedSizeOffset..], UncompressedSize);
        BinaryPrimitives.WriteUInt16LittleEndian(b[NameLengthOffset..], NameLength);
        BinaryPrimitives.WriteUInt16LittleEndian(b[ExtraLengthOffset..], ExtraLength);
        BinaryPrimitives.WriteUInt16LittleEndian(b[CommentLengthOffset..], CommentLength);
        BinaryPrimitives.WriteUInt16LittleEndian(b[DiskNumberOffset..], DiskNumber);
        BinaryPrimitives.WriteUInt16LittleEndian(b[InternalAttributesOffset..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(b[ExternalAttributesOffset..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(b[LocalHeaderOffsetOffset..], LocalHeaderOffset);
    }
}
