using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Ckptmpi.Tensors.Kernels;

/// <summary>
/// The vectorised bodies behind <see cref="Cast"/>: Vector512 where the hardware has it, then Vector256, then a
/// scalar tail that uses <see cref="CastReference"/>, so every element follows the same definition.
/// Spans have equal element counts (checked by <see cref="Cast.Convert"/>).
/// </summary>
internal static class CastVector
{
    private const uint SignMask = 0x8000_0000;
    private const uint ExponentMask = 0x7F80_0000;
    private const uint BfRoundingBias = 0x7FFF;
    private const uint BfQuietBit = 0x0040;

    public static void Bf16ToF32(ReadOnlySpan<ushort> src, Span<float> dst)
    {
        ref ushort s = ref MemoryMarshal.GetReference(src);
        ref uint d = ref Unsafe.As<float, uint>(ref MemoryMarshal.GetReference(dst));
        nuint n = (nuint)src.Length, i = 0;
        if (CastAvx512.IsSupported) i = (nuint)CastAvx512.Bf16ToF32(src, MemoryMarshal.Cast<float, uint>(dst));
        else if (Vector512.IsHardwareAccelerated)
        {
            for (; i + 32 <= n; i += 32)
            {
                (Vector512<uint> lo, Vector512<uint> hi) = Vector512.Widen(Vector512.LoadUnsafe(ref s, i));
                (lo << 16).StoreUnsafe(ref d, i);
                (hi << 16).StoreUnsafe(ref d, i + 16);
            }
        }
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 16 <= n; i += 16)
            {
                (Vector256<uint> lo, Vector256<uint> hi) = Vector256.Widen(Vector256.LoadUnsafe(ref s, i));
                (lo << 16).StoreUnsafe(ref d, i);
                (hi << 16).StoreUnsafe(ref d, i + 8);
            }
        }
        for (; i < n; i++) Unsafe.Add(ref d, i) = (uint)Unsafe.Add(ref s, i) << 16;
    }

    public static void F32ToBf16(ReadOnlySpan<float> src, Span<ushort> dst)
    {
        ref uint s = ref Unsafe.As<float, uint>(ref MemoryMarshal.GetReference(src));
        ref ushort d = ref MemoryMarshal.GetReference(dst);
        nuint n = (nuint)src.Length, i = 0;
        if (CastAvx512.IsSupported) i = (nuint)CastAvx512.F32ToBf16(MemoryMarshal.Cast<float, uint>(src), dst);
        else if (Vector512.IsHardwareAccelerated)
        {
            for (; i + 32 <= n; i += 32)
            {
                Vector512<uint> a = RoundToBf16(Vector512.LoadUnsafe(ref s, i));
                Vector512<uint> b = RoundToBf16(Vector512.LoadUnsafe(ref s, i + 16));
                Vector512.Narrow(a, b).StoreUnsafe(ref d, i);
            }
        }
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 16 <= n; i += 16)
            {
                Vector256<uint> a = RoundToBf16(Vector256.LoadUnsafe(ref s, i));
                Vector256<uint> b = RoundToBf16(Vector256.LoadUnsafe(ref s, i + 8));
                Vector256.Narrow(a, b).StoreUnsafe(ref d, i);
            }
        }
        for (; i < n; i++) Unsafe.Add(ref d, i) = CastReference.F32BitsToBf16(Unsafe.Add(ref s, i));
    }

    // Adds 0x7FFF plus the lowest kept bit, so exact halves round to the even neighbour and carries walk into the
    // exponent (largest finite values round up to infinity, as they must). NaNs keep sign and upper payload, made quiet.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<uint> RoundToBf16(Vector512<uint> u)
    {
        Vector512<uint> rounded = (u + (((u >> 16) & Vector512<uint>.One) + Vector512.Create(BfRoundingBias))) >> 16;
        Vector512<uint> nan = Vector512.GreaterThan(u & Vector512.Create(~SignMask), Vector512.Create(ExponentMask));
        return Vector512.ConditionalSelect(nan, (u >> 16) | Vector512.Create(BfQuietBit), rounded);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> RoundToBf16(Vector256<uint> u)
    {
        Vector256<uint> rounded = (u + (((u >> 16) & Vector256<uint>.One) + Vector256.Create(BfRoundingBias))) >> 16;
        Vector256<uint> nan = Vector256.GreaterThan(u & Vector256.Create(~SignMask), Vector256.Create(ExponentMask));
        return Vector256.ConditionalSelect(nan, (u >> 16) | Vector256.Create(BfQuietBit), rounded);
    }

    // Without AVX-512, System.Numerics.Tensors vectorises these with the exact System.Half semantics (tested here).
    public static void F16ToF32(ReadOnlySpan<Half> src, Span<float> dst)
    {
        int done = CastAvx512.IsSupported ? CastAvx512.F16ToF32(MemoryMarshal.Cast<Half, ushort>(src), MemoryMarshal.Cast<float, uint>(dst)) : 0;
        TensorPrimitives.ConvertToSingle(src[done..], dst[done..]);
    }

    public static void F32ToF16(ReadOnlySpan<float> src, Span<Half> dst)
    {
        int done = CastAvx512.IsSupported ? CastAvx512.F32ToF16(MemoryMarshal.Cast<float, uint>(src), MemoryMarshal.Cast<Half, ushort>(dst)) : 0;
        TensorPrimitives.ConvertToHalf(src[done..], dst[done..]);
    }

    /// <summary>bf16 -> f16 in registers where AVX-512 allows; returns how many elements were done (the caller goes through f32 for the rest).</summary>
    public static int Bf16ToF16(ReadOnlySpan<ushort> src, Span<ushort> dst) => CastAvx512.IsSupported ? CastAvx512.Bf16ToF16(src, dst) : 0;

    public static int F16ToBf16(ReadOnlySpan<ushort> src, Span<ushort> dst) => CastAvx512.IsSupported ? CastAvx512.F16ToBf16(src, dst) : 0;

    public static void F64ToF32(ReadOnlySpan<double> src, Span<float> dst)
    {
        ref double s = ref MemoryMarshal.GetReference(src);
        ref float d = ref MemoryMarshal.GetReference(dst);
        nuint n = (nuint)src.Length, i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; i + 16 <= n; i += 16)
                Vector512.Narrow(Vector512.LoadUnsafe(ref s, i), Vector512.LoadUnsafe(ref s, i + 8)).StoreUnsafe(ref d, i);
        }
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 8 <= n; i += 8)
                Vector256.Narrow(Vector256.LoadUnsafe(ref s, i), Vector256.LoadUnsafe(ref s, i + 4)).StoreUnsafe(ref d, i);
        }
        for (; i < n; i++) Unsafe.Add(ref d, i) = (float)Unsafe.Add(ref s, i);
    }

    public static void F32ToF64(ReadOnlySpan<float> src, Span<double> dst)
    {
        ref float s = ref MemoryMarshal.GetReference(src);
        ref double d = ref MemoryMarshal.GetReference(dst);
        nuint n = (nuint)src.Length, i = 0;
        if (System.Runtime.Intrinsics.X86.Avx512F.IsSupported)
        {
            for (; i + 8 <= n; i += 8)
                System.Runtime.Intrinsics.X86.Avx512F.ConvertToVector512Double(Vector256.LoadUnsafe(ref s, i)).StoreUnsafe(ref d, i);
        }
        else if (Vector512.IsHardwareAccelerated)
        {
            for (; i + 16 <= n; i += 16)
            {
                (Vector512<double> lo, Vector512<double> hi) = Vector512.Widen(Vector512.LoadUnsafe(ref s, i));
                lo.StoreUnsafe(ref d, i);
                hi.StoreUnsafe(ref d, i + 8);
            }
        }
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 8 <= n; i += 8)
            {
                (Vector256<double> lo, Vector256<double> hi) = Vector256.Widen(Vector256.LoadUnsafe(ref s, i));
                lo.StoreUnsafe(ref d, i);
                hi.StoreUnsafe(ref d, i + 4);
            }
        }
        for (; i < n; i++) Unsafe.Add(ref d, i) = Unsafe.Add(ref s, i);
    }
}
