using System.Buffers.Binary;

namespace Ckptmpi.Formats.Torch.Zip;

// The zip local file header, as PyTorch's writer fills it (docs/formats/torch.md).

/// <summary>A zip local file header: 30 fixed bytes, then the name and the extra field.</summary>
internal readonly record struct ZipLocalHeader(ushort VersionNeeded, ushort Flags, ushort Method, uint Crc32, uint CompressedSize, uint UncompressedSize, ushort NameLength, ushort ExtraLength)
{
    private const int SignatureOffset = 0;
    private const int VersionNeededOffset = SignatureOffset + sizeof(uint);
    private const int FlagsOffset = VersionNeededOffset + sizeof(ushort);
    private const int MethodOffset = FlagsOffset + sizeof(ushort);
    private const int TimeOffset = MethodOffset + sizeof(ushort);
    private const int DateOffset = TimeOffset + sizeof(ushort);
    public const int Crc32Offset = DateOffset + sizeof(ushort);
    private const int CompressedSizeOffset = Crc32Offset + sizeof(uint);
    private const int UncompressedSizeOffset = CompressedSizeOffset + sizeof(uint);
    private const int NameLengthOffset = UncompressedSizeOffset + sizeof(uint);
    private const int ExtraLengthOffset = NameLengthOffset + sizeof(ushort);

    /// <summary>Size of the fixed part (30 bytes).</summary>
    public const int Size = ExtraLengthOffset + sizeof(ushort);

    /// <summary>Reads the fixed part; false when the signature is wrong or the span is short.</summary>
    public static bool TryRead(ReadOnlySpan<byte> b, out ZipLocalHeader header)
    {
        header = default;
        if (b.Length < Size || BinaryPrimitives.ReadUInt32LittleEndian(b) != ZipConstants.LocalHeaderSignature) return false;
        header = new ZipLocalHeader(
            BinaryPrimitives.ReadUInt16LittleEndian(b[VersionNeededOffset..]),
            BinaryPrimitives.ReadUInt16LittleEndian(b[FlagsOffset..]),
            BinaryPrimitives.ReadUInt16LittleEndian(b[MethodOffset..]),
            BinaryPrimitives.ReadUInt32LittleEndian(b[Crc32Offset..]),
            BinaryPrimitives.ReadUInt32LittleEndian(b[CompressedSizeOffset..]),
            BinaryPrimitives.ReadUInt32LittleEndian(b[UncompressedSizeOffset..]),
            BinaryPrimitives.ReadUInt16LittleEndian(b[NameLengthOffset..]),
            BinaryPrimitives.ReadUInt16LittleEndian(b[ExtraLengthOffset..]));
        return true;
    }

    /// <summary>Writes the fixed part (time and date are always 0, as torch writes them).</summary>
    public void Write(Span<byte> b)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(b, ZipConstants.LocalHeaderSignature);
        BinaryPrimitives.WriteUInt16LittleEndian(b[VersionNeededOffset..], VersionNeeded);
        BinaryPrimitives.WriteUInt16LittleEndian(b[FlagsOffset..], Flags);
        BinaryPrimitives.WriteUInt16LittleEndian(b[MethodOffset..], Method);
        BinaryPrimitives.WriteUInt16LittleEndian(b[TimeOffset..], 0);
        BinaryPrimitives.WriteUInt16LittleEndian(b[DateOffset..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(b[Crc32Offset..], Crc32);
        BinaryPrimitives.WriteUInt32LittleEndian(b[CompressedSizeOffset..], CompressedSize);
        BinaryPrimitives.WriteUInt32LittleEndian(b[UncompressedSizeOffset..], UncompressedSize);
        BinaryPrimitives.WriteUInt16LittleEndian(b[NameLengthOffset..], NameLength);
        BinaryPrimitives.WriteUInt16LittleEndian(b[ExtraLengthOffset..], ExtraLength);
    }
}
