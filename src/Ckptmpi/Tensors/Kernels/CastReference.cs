namespace Ckptmpi.Tensors.Kernels;

/// <summary>
/// One-element definitions of every cast, written for clarity rather than speed: the vector kernels use them for
/// their tails and the tests compare the kernels against them for every 16-bit pattern.
/// </summary>
internal static class CastReference
{
    private const uint QuietBit16 = 0x0040;

    public static float Bf16ToF32(ushort b) => BitConverter.UInt32BitsToSingle((uint)b << 16);

    /// <summary>f32 -> bf16, round to nearest even, written as the textbook choice between the two neighbours.</summary>
    public static ushort F32BitsToBf16(uint u)
    {
        if ((u & 0x7FFF_FFFF) > 0x7F80_0000) return (ushort)((u >> 16) | QuietBit16); // NaN: keep sign and upper payload
        uint down = u >> 16;          // truncated toward zero in magnitude
        uint rest = u & 0xFFFF;       // the dropped bits
        bool up = rest > 0x8000 || (rest == 0x8000 && (down & 1) == 1);
        return (ushort)(up ? down + 1 : down); // +1 on the bit pattern walks into the next binade or to infinity
    }

    public static ushort F32ToBf16(float f) => F32BitsToBf16(BitConverter.SingleToUInt32Bits(f));

    public static float F16ToF32(Half h) => (float)h;

    public static Half F32ToF16(float f) => (Half)f;

    public static float F64ToF32(double d) => (float)d;
}
