namespace Ckptmpi.Tensors.Checksums;

/// <summary>
/// CRC-32 as zip and zlib define it (reflected polynomial 0xEDB88320, initial and final XOR 0xFFFFFFFF), the
/// checksum a torch.save zip stores per record. Streaming (<see cref="Append(ReadOnlySpan{byte})"/>) and
/// composable (<see cref="Combine"/>): a file written in pieces by several ranks gets its CRC from the pieces' CRCs
/// without anyone reading it again. Carry-less multiply (PCLMULQDQ) where available, slice-by-8 otherwise.
/// </summary>
public sealed class Crc32
{
    private uint _register = uint.MaxValue; // the pre-inverted running register, as zlib keeps it internally

    /// <summary>Total bytes appended since construction or <see cref="Reset"/>.</summary>
    public long Length { get; private set; }

    public void Append(ReadOnlySpan<byte> data)
    {
        _register = Crc32Engine.Update(_register, data);
        Length += data.Length;
    }

    /// <summary>The CRC of everything appended so far (zlib's value).</summary>
    public uint GetCurrentHashAsUInt32() => ~_register;

    public void Reset()
    {
        _register = uint.MaxValue;
        Length = 0;
    }

    /// <summary>The CRC-32 of <paramref name="data"/> (zlib's <c>crc32(0, data, len)</c>).</summary>
    public static uint Hash(ReadOnlySpan<byte> data) => Append(0, data);

    /// <summary>Same as <see cref="Hash"/> (the torch branch's name; kept when the two CRC implementations were merged).</summary>
    public static uint Compute(ReadOnlySpan<byte> data) => Hash(data);

    /// <summary>Continues a CRC over more bytes: <c>Append(Hash(a), b) == Hash(a + b)</c> (zlib's <c>crc32(crc, data, len)</c>).</summary>
    public static uint Append(uint crc, ReadOnlySpan<byte> data) => ~Crc32Engine.Update(~crc, data);

    /// <summary>
    /// The CRC of the concatenation A + B from <c>crcA = Hash(A)</c>, <c>crcB = Hash(B)</c> and B's length
    /// (zlib's <c>crc32_combine</c>): O(log lengthB), no data needed.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="lengthB"/> is negative.</exception>
    public static uint Combine(uint crcA, uint crcB, long lengthB)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(lengthB);
        return Crc32Engine.MultiplyModP(Crc32Engine.XPowEightNModP(lengthB), crcA) ^ crcB;
    }
}
