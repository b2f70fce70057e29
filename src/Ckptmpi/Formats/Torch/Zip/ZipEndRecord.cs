using System.Buffers.Binary;

namespace Ckptmpi.Formats.Torch.Zip;

// The classic end of central directory record.

/// <summary>The classic end-of-central-directory record (22 bytes + comment).</summary>
internal readonly record struct ZipEndRecord(ushort DiskNumber, ushort CentralDirectoryDisk, ushort EntriesOnDisk, ushort TotalEntries, uint CentralDirectorySize, uint CentralDirectoryOffset, ushort CommentLength)
{
    private const int DiskNumberOffset = sizeof(uint);
    private const int CentralDirectoryDiskOffset = DiskNumberOffset + sizeof(ushort);
    private const int EntriesOnDiskOffset = CentralDirectoryDiskOffset + sizeof(ushort);
    private const int TotalEntriesOffset = EntriesOnDiskOffset + sizeof(ushort);
    private const int CentralDirectorySizeOffset = TotalEntriesOffset + sizeof(ushort);
    private const int CentralDirectoryOffsetOffset = CentralDirectorySizeOffset + sizeof(uint);
    private const int CommentLengthOffset = CentralDirectoryOffsetOffset + sizeof(uint);

    /// <summary>Size without the comment (22 bytes).</summary>
    public const int Size = CommentLengthOffset + sizeof(ushort);

    public static bool TryRead(ReadOnlySpan<byte> b, out ZipEndRecord record)
    {
        record = default;
        if (b.Length < Size || BinaryPrimitives.ReadUInt32LittleEndian(b) != ZipConstants.EndSignature) return false;
        record = new ZipEndRecord(
            BinaryPrimitives.ReadUInt16LittleEndian(b[DiskNumberOffset..]),
            BinaryPrimitives.ReadUInt16LittleEndian(b[CentralDirectoryDiskOffset..]),
            BinaryPrimitives.ReadUInt16LittleEndian(b[EntriesOnDiskOffset..]),
            BinaryPrimitives.ReadUInt16LittleEndian(b[TotalEntriesOffset..]),
            BinaryPrimitives.ReadUInt32LittleEndian(b[CentralDirectorySizeOffset..]),
            BinaryPrimitives.ReadUInt32LittleEndian(b[CentralDirectoryOffsetOffset..]),
            BinaryPrimitives.ReadUInt16LittleEndian(b[CommentLengthOffset..]));
        return true;
    }

    public void Write(Span<byte> b)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(b, ZipConstants.EndSignature);
        BinaryPrimitives.WriteUInt16LittleEndian(b[DiskNumberOffset..], DiskNumber);
        BinaryPrimitives.WriteUInt16LittleEndian(b[CentralDirectoryDiskOffset..], CentralDirectoryDisk);
        BinaryPrimitives.WriteUInt16LittleEndian(b[EntriesOnDiskOffset..], EntriesOnDisk);
        BinaryPrimitives.WriteUInt16LittleEndian(b[TotalEntriesOffset..], TotalEntries);
        BinaryPrimitives.WriteUInt32LittleEndian(b[CentralDirectorySizeOffset..], CentralDirectorySize);
        BinaryPrimitives.WriteUInt32LittleEndian(b[CentralDirectoryOffsetOffset..], CentralDirectoryOffset);
        BinaryPrimitives.WriteUInt16LittleEndian(b[CommentLengthOffset..], CommentLength);
    }
}
