using System.Runtime.InteropServices;

namespace Ckptmpi.Tensors.Kernels;

/// <summary>
/// Element-wise dtype conversion of raw little-endian tensor bytes, the only kernel that computes new values
/// when a conversion changes precision (BF16 is the upper half of an IEEE float32).
/// Works on any element-aligned chunk, so the executor can stream a tensor through a fixed buffer.
/// </summary>
/// <remarks>
/// Semantics (pinned by exhaustive tests against <see cref="CastReference"/>):
/// <list type="bullet">
/// <item>bf16 -> f32, f16 -> f32, f32 -> f64: exact.</item>
/// <item>f32 -> bf16: round to nearest, ties to even; infinities kept; overflow rounds to infinity; NaN stays NaN
/// with its sign and upper payload bits and the quiet bit set (torch itself is inconsistent here: its scalar path
/// writes 0x7FC0, its AVX path 0xFFFF).</item>
/// <item>f32 -> f16: IEEE round to nearest even including subnormals, <see cref="Half"/> semantics.</item>
/// <item>f64 -> f32: IEEE round to nearest even (hardware conversion).</item>
/// <item>bf16 &lt;-> f16: through f32, which is exact on the way in, so there is a single rounding.</item>
/// <item>same dtype: a plain copy.</item>
/// </list>
/// f64 -> bf16/f16 is not offered: going through f32 would round twice.
/// </remarks>
public static class Cast
{
    // Elements converted per step of the two-stage (via f32) paths; 4 KiB of floats on the stack.
    private const int ViaF32ChunkElements = 1024;

    /// <summary>Whether <see cref="Convert"/> handles this pair.</summary>
    public static bool IsSupported(DType from, DType to) =>
        from == to || (from, to) switch
        {
            (DType.BF16, DType.F32) or (DType.F32, DType.BF16) => true,
            (DType.F16, DType.F32) or (DType.F32, DType.F16) => true,
            (DType.BF16, DType.F16) or (DType.F16, DType.BF16) => true,
            (DType.F64, DType.F32) or (DType.F32, DType.F64) => true,
            _ => false,
        };

    /// <summary>
    /// Converts the elements in <paramref name="src"/> (stored as <paramref name="from"/>) into
    /// <paramref name="dst"/> as <paramref name="to"/>. Returns the number of elements converted.
    /// </summary>
    /// <exception cref="ArgumentException">The pair is not supported, <paramref name="src"/> is not a whole
    /// number of elements, or <paramref name="dst"/> is not exactly the size of the converted elements.</exception>
    public static long Convert(ReadOnlySpan<byte> src, DType from, Span<byte> dst, DType to)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("ckptmpi kernels assume a little-endian machine");
        if (!IsSupported(from, to))
            throw new ArgumentException($"no cast from {from} to {to}; supported: same dtype, bf16/f16/f32 among themselves, f64<->f32", nameof(to));
        int fromSize = from.SizeInBytes(), toSize = to.SizeInBytes();
        if (src.Length % fromSize != 0)
            throw new ArgumentException($"source is {src.Length} bytes, not a whole number of {from} elements", nameof(src));
        int n = src.Length / fromSize;
        if (dst.Length != (long)n * toSize)
            throw new ArgumentException($"destination is {dst.Length} bytes but {n} {to} elements need {(long)n * toSize}", nameof(dst));

        if (from == to)
        {
            src.CopyTo(dst);
            return n;
        }
        switch (from, to)
        {
            case (DType.BF16, DType.F32): CastVector.Bf16ToF32(As<ushort>(src), AsMut<float>(dst)); break;
            case (DType.F32, DType.BF16): CastVector.F32ToBf16(As<float>(src), AsMut<ushort>(dst)); break;
            case (DType.F16, DType.F32): CastVector.F16ToF32(As<Half>(src), AsMut<float>(dst)); break;
            case (DType.F32, DType.F16): CastVector.F32ToF16(As<float>(src), AsMut<Half>(dst)); break;
            case (DType.F64, DType.F32): CastVector.F64ToF32(As<double>(src), AsMut<float>(dst)); break;
            case (DType.F32, DType.F64): CastVector.F32ToF64(As<float>(src), AsMut<double>(dst)); break;
            case (DType.BF16, DType.F16):
                int doneB = CastVector.Bf16ToF16(As<ushort>(src), AsMut<ushort>(dst)) * sizeof(ushort);
                ViaF32(src[doneB..], from, dst[doneB..], to);
                break;
            case (DType.F16, DType.BF16):
                int doneH = CastVector.F16ToBf16(As<ushort>(src), AsMut<ushort>(dst)) * sizeof(ushort);
                ViaF32(src[doneH..], from, dst[doneH..], to);
                break;
            default: throw new System.Diagnostics.UnreachableException($"{from} -> {to}");
        }
        return n;
    }

    private static void ViaF32(ReadOnlySpan<byte> src, DType from, Span<byte> dst, DType to)
    {
        Span<byte> f32 = stackalloc byte[ViaF32ChunkElements * sizeof(float)];
        int fromSize = from.SizeInBytes(), toSize = to.SizeInBytes();
        while (!src.IsEmpty)
        {
            int k = Math.Min(ViaF32ChunkElements, src.Length / fromSize);
            Span<byte> mid = f32[..(k * sizeof(float))];
            Convert(src[..(k * fromSize)], from, mid, DType.F32);
            Convert(mid, DType.F32, dst[..(k * toSize)], to);
            src = src[(k * fromSize)..];
            dst = dst[(k * toSize)..];
        }
    }

    // Reinterpreting unaligned byte spans is fine on x86-64 and Arm64, the only targets we build for.
    private static ReadOnlySpan<T> As<T>(ReadOnlySpan<byte> s) where T : struct => MemoryMarshal.Cast<byte, T>(s);

    private static Span<T> AsMut<T>(Span<byte> s) where T : struct => MemoryMarshal.Cast<byte, T>(s);
}
