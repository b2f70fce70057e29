using System.Buffers.Binary;

namespace Ckptmpi.Formats.Torch.Zip;

// The zip64 end of central directory record (torch's writer always emits it).

/// <summary>The zip64 end-of-central-directory record (56 bytes; torch writes it even for tiny files).</summary>
internal readonly record struct Zip64EndRecord(ulong RecordSize, ushort VersionMadeBy, ushort VersionNeeded, uint DiskNumber, uint CentralDirectoryDisk, ulong EntriesOnDisk, ulong TotalEntries, ulong CentralDirectorySize, ulong CentralDirectoryOffset)
{
    private const int RecordSizeOffset = sizeof(uint);
    private const int VersionMadeByOffset = RecordSizeOffset + sizeof(ulong);
    private const int VersionNeededOffset = VersionMadeByOffset + sizeof(ushort);
    private const int DiskNumberOffset = VersionNeededOffset + sizeof(ushort);
    private const int CentralDirectoryDiskOffset = DiskNumberOffset + sizeof(uint);
    private const int EntriesOnDiskOffset = CentralDirectoryDiskOffset + sizeof(uint);
    private const int TotalEntriesOffset = EntriesOnDiskOffset + sizeof(ulong);
    private const int CentralDirectorySizeOffset = TotalEntriesOffset + sizeof(ulong);
    private const int CentralDirectoryOffsetOffset = CentralDirectorySizeOffset + sizeof(ulong);

    /// <summary>Size of the record (56 bytes).</summary>
    public const int Size = CentralDirectoryOffsetOffset + sizeof(ulong);

    /// <summary>The "size of this record" field: the bytes after the signature and that field (44).</summary>
    public const ulong SizeAfterLengthField = Size - RecordSizeOffset - sizeof(ulong);

    public static bool TryRead(ReadOnlySpan<byte> b, out Zip64EndRecord record)
    {
        record = default;
        if (b.Length < Size || BinaryPrimitives.ReadUInt32LittleEndian(b) != ZipConstants.Zip64EndSignature) return false;
        record = new Zip64EndRecord(
            BinaryPrimitives.ReadUInt64LittleEndian(b[RecordSizeOffset..]),
            BinaryPrimitives.ReadUInt16LittleEndian(b[VersionMadeByOffset..]),
            BinaryPrimitives.ReadUInt16LittleEndian(b[VersionNeededOffset..]),
            BinaryPrimitives.ReadUInt32LittleEndian(b[DiskNumberOffset..]),
            BinaryPrimitives.ReadUInt32LittleEndian(b[CentralDirectoryDiskOffset..]),
            BinaryPrimitives.ReadUInt64LittleEndian(b[EntriesOnDiskOffset..]),
            BinaryPrimitives.ReadUInt64LittleEndian(b[TotalEntriesOffset..]),
            BinaryPrimitives.ReadUInt64LittleEndian(b[CentralDirectorySizeOffset..]),
            BinaryPrimitives.ReadUInt64LittleEndian(b[CentralDirectoryOffsetOffset..]));
        return true;
    }

    public void Write(Span<byte> b)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(b, ZipConstants.Zip64EndSignature);
        BinaryPrimitives.WriteUInt64LittleEndian(b[RecordSizeOffset..], RecordSize);
        BinaryPrimitives.WriteUInt16LittleEndian(b[VersionMadeByOffset..], VersionMadeBy);
        BinaryPrimitives.WriteUInt16LittleEndian(b[VersionNeededOffset..], VersionNeeded);
        BinaryPrimitives.WriteUInt32LittleEndian(b[DiskNumberOffset..], DiskNumber);
        BinaryPrimitives.WriteUInt32LittleEndian(b[CentralDirectoryDiskOffset..], CentralDirectoryDisk);
        BinaryPrimitives.WriteUInt64LittleEndian(b[EntriesOnDiskOffset..], EntriesOnDisk);
        BinaryPrimitives.WriteUInt64LittleEndian(b[TotalEntriesOffset..], TotalEntries);
        BinaryPrimitives.WriteUInt64LittleEndian(b[CentralDirectorySizeOffset..], CentralDirectorySize);
        BinaryPrimitives.WriteUInt64LittleEndian(b[CentralDirectoryOffsetOffset..], CentralDirectoryOffset);
    }
}
