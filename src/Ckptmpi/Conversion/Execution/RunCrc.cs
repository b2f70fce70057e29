using System.Buffers.Binary;

namespace Ckptmpi.Conversion.Execution;

/// <summary>The CRC-32 of bytes <c>[Offset, Offset + Length)</c> of output file <see cref="File"/>, as a rank reports it to rank 0.</summary>
internal readonly record struct RunCrc(int File, long Offset, int Length, int Field, uint Crc)
{
    private const int Size = 4 + 8 + 4 + 4 + 4;

    public static byte[] Serialize(IReadOnlyList<RunCrc> runs)
    {
        var bytes = new byte[runs.Count * Size];
        Span<byte> s = bytes;
        foreach (RunCrc r in runs)
        {
            BinaryPrimitives.WriteInt32LittleEndian(s, r.File);
            BinaryPrimitives.WriteInt64LittleEndian(s[4..], r.Offset);
            BinaryPrimitives.WriteInt32LittleEndian(s[12..], r.Length);
            BinaryPrimitives.WriteInt32LittleEndian(s[16..], r.Field);
            BinaryPrimitives.WriteUInt32LittleEndian(s[20..], r.Crc);
            s = s[Size..];
        }
        return bytes;
    }

    public static IEnumerable<RunCrc> Deserialize(byte[] bytes)
    {
        for (int at = 0; at + Size <= bytes.Length; at += Size)
        {
            ReadOnlySpan<byte> s = bytes.AsSpan(at, Size);
            yield return new RunCrc(BinaryPrimitives.ReadInt32LittleEndian(s), BinaryPrimitives.ReadInt64LittleEndian(s[4..]),
                BinaryPrimitives.ReadInt32LittleEndian(s[12..]), BinaryPrimitives.ReadInt32LittleEndian(s[16..]), BinaryPrimitives.ReadUInt32LittleEndian(s[20..]));
        }
    }
}
