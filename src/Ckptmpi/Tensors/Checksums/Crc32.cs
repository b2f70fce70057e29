using System.Buffers.Binary;

namespace Ckptmpi.Tensors.Checksums;

/// <summary>
/// The zip CRC-32 (reflected polynomial 0xEDB88320, initial and final XOR 0xFFFFFFFF), slice-by-8.
/// System.IO.Hashing is not available from this project's NuGet feed, so it lives here; the zip writer patches
/// each record's CRC with it (formats-deepspeed.md A.4.5: torch never checks CRCs, <c>unzip -t</c> does).
/// </summary>
public static class Crc32
{
    private const uint Polynomial = 0xEDB88320u;

    // Table[k][b]: the CRC contribution of byte b followed by k zero bytes; row 0 is the classic table.
    private static readonly uint[] Table = BuildTable();

    /// <summary>The CRC-32 of <paramref name="data"/>.</summary>
    public static uint Compute(ReadOnlySpan<byte> data) => Append(0, data);

    /// <summary>
    /// Continues a CRC over more data: <c>Append(Append(0, a), b) == Compute(a ++ b)</c>. Pass 0 to start.
    /// </summary>
    public static uint Append(uint crc, ReadOnlySpan<byte> data)
    {
        uint c = ~crc;
        ReadOnlySpan<uint> t = Table;
        while (data.Length >= 8)
        {
            uint lo = BinaryPrimitives.ReadUInt32LittleEndian(data) ^ c;
            uint hi = BinaryPrimitives.ReadUInt32LittleEndian(data[4..]);
            c = t[(7 * 256) + (int)(lo & 0xFF)] ^ t[(6 * 256) + (int)((lo >> 8) & 0xFF)]
              ^ t[(5 * 256) + (int)((lo >> 16) & 0xFF)] ^ t[(4 * 256) + (int)(lo >> 24)]
              ^ t[(3 * 256) + (int)(hi & 0xFF)] ^ t[(2 * 256) + (int)((hi >> 8) & 0xFF)]
              ^ t[256 + (int)((hi >> 16) & 0xFF)] ^ t[(int)(hi >> 24)];
            data = data[8..];
        }
        foreach (byte b in data)
            c = t[(int)((c ^ b) & 0xFF)] ^ (c >> 8);
        return ~c;
    }

    private static uint[] BuildTable()
    {
        var t = new uint[8 * 256];
        for (uint i = 0; i < 256; i++)
        {
            uint c = i;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? (c >> 1) ^ Polynomial : c >> 1;
            t[i] = c;
        }
        for (int k = 1; k < 8; k++)
        {
            for (int i = 0; i < 256; i++)
            {
                uint prev = t[((k - 1) * 256) + i];
                t[(k * 256) + i] = (prev >> 8) ^ t[(int)(prev & 0xFF)];
            }
        }
        return t;
    }
}
