using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Ckptmpi.Tensors.Kernels;

/// <summary>
/// AVX-512 bodies for the casts among bf16, f16 and f32: 16 elements per step, widening with vpmovzxwd and narrowing
/// with vpmovdw, and f16 conversions done with integer and float arithmetic (.NET exposes no F16C), so bf16 &lt;-> f16
/// runs through f32 in registers. Each returns how many elements it did; the caller finishes the tail.
/// </summary>
internal static class CastAvx512
{
    public static bool IsSupported => Avx512F.IsSupported && Avx512BW.IsSupported;

    private const int Lanes = 16;
    private const uint F16InfNanThreshold = (127 + 16) << 23;    // |f| >= 65536 (before rounding): f16 inf or NaN
    private const uint F16SubnormalThreshold = 113 << 23;        // |f| < 2^-14: f16 subnormal or zero
    private const uint F16DenormMagic = ((127 - 15) + (23 - 10) + 1) << 23; // 0.5: adding it aligns the 10 bits at the bottom
    private const uint F16Rebias = unchecked((uint)((15 - 127) << 23)) + 0xFFF;
    private const uint F16ToF32Rebias = (127 - 15) << 23;
    private const uint Pow2ToMinus24 = 0x3380_0000;              // the f32 bits of 2^-24, one f16 subnormal step

    public static int Bf16ToF32(ReadOnlySpan<ushort> src, Span<uint> dst)
    {
        ref ushort s = ref MemoryMarshal.GetReference(src);
        ref uint d = ref MemoryMarshal.GetReference(dst);
        int n = src.Length - src.Length % Lanes;
        for (int i = 0; i < n; i += Lanes) WidenBf16(Vector256.LoadUnsafe(ref s, (nuint)i)).StoreUnsafe(ref d, (nuint)i);
        return n;
    }

    public static int F32ToBf16(ReadOnlySpan<uint> src, Span<ushort> dst)
    {
        ref uint s = ref MemoryMarshal.GetReference(src);
        ref ushort d = ref MemoryMarshal.GetReference(dst);
        int n = src.Length - src.Length % Lanes;
        for (int i = 0; i < n; i += Lanes) NarrowBf16(Vector512.LoadUnsafe(ref s, (nuint)i)).StoreUnsafe(ref d, (nuint)i);
        return n;
    }

    public static int F16ToF32(ReadOnlySpan<ushort> src, Span<uint> dst)
    {
        ref ushort s = ref MemoryMarshal.GetReference(src);
        ref uint d = ref MemoryMarshal.GetReference(dst);
        int n = src.Length - src.Length % Lanes;
        for (int i = 0; i < n; i += Lanes) WidenF16(Vector256.LoadUnsafe(ref s, (nuint)i)).StoreUnsafe(ref d, (nuint)i);
        return n;
    }

    public static int F32ToF16(ReadOnlySpan<uint> src, Span<ushort> dst)
    {
        ref uint s = ref MemoryMarshal.GetReference(src);
        ref ushort d = ref MemoryMarshal.GetReference(dst);
        int n = src.Length - src.Length % Lanes;
        for (int i = 0; i < n; i += Lanes) NarrowF16(Vector512.LoadUnsafe(ref s, (nuint)i)).StoreUnsafe(ref d, (nuint)i);
        return n;
    }

    public static int Bf16ToF16(ReadOnlySpan<ushort> src, Span<ushort> dst)
    {
        ref ushort s = ref MemoryMarshal.GetReference(src);
        ref ushort d = ref MemoryMarshal.GetReference(dst);
        int n = src.Length - src.Length % Lanes;
        for (int i = 0; i < n; i += Lanes) NarrowF16(WidenBf16(Vector256.LoadUnsafe(ref s, (nuint)i))).StoreUnsafe(ref d, (nuint)i);
        return n;
    }

    public static int F16ToBf16(ReadOnlySpan<ushort> src, Span<ushort> dst)
    {
        ref ushort s = ref MemoryMarshal.GetReference(src);
        ref ushort d = ref MemoryMarshal.GetReference(dst);
        int n = src.Length - src.Length % Lanes;
        for (int i = 0; i < n; i += Lanes) NarrowBf16(WidenF16(Vector256.LoadUnsafe(ref s, (nuint)i))).StoreUnsafe(ref d, (nuint)i);
        return n;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<uint> WidenBf16(Vector256<ushort> v) => Avx512F.ConvertToVector512UInt32(v) << 16;

    // Same rule as CastReference.F32BitsToBf16: +0x7FFF + lowest kept bit, NaN keeps sign and payload and turns quiet.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<ushort> NarrowBf16(Vector512<uint> u)
    {
        Vector512<uint> rounded = (u + (((u >> 16) & Vector512<uint>.One) + Vector512.Create(0x7FFFu))) >> 16;
        Vector512<uint> nan = Vector512.GreaterThan(u & Vector512.Create(0x7FFF_FFFFu), Vector512.Create(0x7F80_0000u));
        return Avx512F.ConvertToVector256UInt16(Vector512.ConditionalSelect(nan, (u >> 16) | Vector512.Create(0x0040u), rounded));
    }

    // Exact, and without ever feeding a denormal to the FPU (microcode assists cost ~100 cycles): normal values are
    // rebiased as integers, subnormals converted from their integer mantissa times 2^-24, inf/NaN patched in (NaN made
    // quiet with its payload kept, as System.Half does).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<uint> WidenF16(Vector256<ushort> v)
    {
        Vector512<uint> h = Avx512F.ConvertToVector512UInt32(v);
        Vector512<uint> sign = (h & Vector512.Create(0x8000u)) << 16;
        Vector512<uint> em = h & Vector512.Create(0x7FFFu);
        Vector512<uint> shifted = em << 13;
        Vector512<uint> normal = shifted + Vector512.Create(F16ToF32Rebias);
        Vector512<uint> subnormal = (Vector512.ConvertToSingle(em.AsInt32()) * Vector512.Create(Pow2ToMinus24).AsSingle()).AsUInt32();
        Vector512<uint> infNan = shifted | Vector512.Create(0x7F80_0000u)
            | (Vector512.GreaterThan(em, Vector512.Create(0x7C00u)) & Vector512.Create(0x0040_0000u));
        Vector512<uint> r = Vector512.ConditionalSelect(Vector512.LessThan(em, Vector512.Create(0x0400u)), subnormal, normal);
        return Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(em, Vector512.Create(0x7C00u)), infNan, r) | sign;
    }

    // Round to nearest even (F. Giesen's float_to_half_fast3_rtne, branch-free): subnormal results by a float add of a
    // magic constant (the FPU rounds), normal results by integer rebias plus the rounding bias; NaN keeps its payload.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<ushort> NarrowF16(Vector512<uint> u)
    {
        Vector512<uint> sign = (u & Vector512.Create(0x8000_0000u)) >> 16;
        Vector512<uint> a = u & Vector512.Create(0x7FFF_FFFFu);
        Vector512<uint> infNan = Vector512.ConditionalSelect(Vector512.GreaterThan(a, Vector512.Create(0x7F80_0000u)),
            Vector512.Create(0x7E00u) | ((a >> 13) & Vector512.Create(0x3FFu)), Vector512.Create(0x7C00u));
        Vector512<uint> sub = (a.AsSingle() + Vector512.Create(F16DenormMagic).AsSingle()).AsUInt32() - Vector512.Create(F16DenormMagic);
        Vector512<uint> normal = (a + Vector512.Create(F16Rebias) + ((a >> 13) & Vector512<uint>.One)) >> 13;
        Vector512<uint> r = Vector512.ConditionalSelect(Vector512.LessThan(a, Vector512.Create(F16SubnormalThreshold)), sub, normal);
        r = Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(a, Vector512.Create(F16InfNanThreshold)), infNan, r);
        return Avx512F.ConvertToVector256UInt16(r | sign);
    }
}
