using Ckptmpi.Tensors;

namespace Ckptmpi.Formats.Torch.Zip;

/// <summary>
/// One stored record of a zip archive, validated against its local header: its full name (<c>archive/data/0</c>),
/// where its bytes lie in the file, and the CRC-32 the central directory declares (not verified: torch never does).
/// </summary>
public sealed record ZipEntry(string Name, ByteRange Data, uint Crc32, long LocalHeaderOffset)
{
    public long Length => Data.Length;
}
