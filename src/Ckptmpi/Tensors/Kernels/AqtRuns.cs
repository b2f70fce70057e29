using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Tensors.Kernels;

/// <summary>
/// AQT's int8 arithmetic (<see cref="QuantizeRule.AqtReciprocal"/>) in SIMD registers, for the layouts MaxText's kernels
/// have: the reduced (contraction) axes lead and the channels are the trailing axes, so the input is a sequence of
/// runs, each a contiguous span of consecutive channels. Every lane does what the scalar code does to one element, in
/// the same order, with the same IEEE operations (divide, multiply, round to bf16 by the bit rule, round half to
/// even), so the bytes are the scalar kernel's; the scalar kernel stays for any other layout and for the tails.
/// Measured: the scalar loop ran at 0.13-0.15 GB/s of fp32 per core, two orders below a copy, the bulk of an int8
/// conversion's time.
/// </summary>
internal static class AqtRuns
{
    /// <summary>
    /// The run length (elements of consecutive channels) when the axes after the last reduced one are not reduced and
    /// hold at least a few vectors; 0 when the layout has no such runs (then the scalar kernel runs).
    /// </summary>
    public static long RunLength(long[] shape, int[] reduced, DType computeDType, out int outerAxes)
    {
        outerAxes = shape.Length;
        while (outerAxes > 0 && Array.IndexOf(reduced, outerAxes - 1) < 0) outerAxes--;
        long run = 1;
        for (int a = outerAxes; a < shape.Length; a++) run *= shape[a];
        bool vectors = Vector.IsHardwareAccelerated && computeDType is DType.BF16 or DType.F32;
        return vectors && run >= 4 * Vector<float>.Count ? run : 0;
    }

    /// <summary>Raises <paramref name="absmax"/> (one per channel of the run) to |x / divisor| rounded to the compute dtype.</summary>
    public static void AbsMax(ReadOnlySpan<float> x, Span<float> absmax, DType dtype, float divisor)
    {
        int n = x.Length, w = Vector<float>.Count, i = 0;
        var d = new Vector<float>(divisor);
        bool divide = divisor != 1f, bf16 = dtype == DType.BF16;
        ref float xs = ref MemoryMarshal.GetReference(x);
        ref float ms = ref MemoryMarshal.GetReference(absmax);
        for (; i <= n - w; i += w)
        {
            Vector<float> v = Vector.LoadUnsafe(ref xs, (nuint)i);
            if (divide) v /= d;
            if (bf16) v = RoundBf16(v);
            Vector.Max(Vector.LoadUnsafe(ref ms, (nuint)i), Vector.Abs(v)).StoreUnsafe(ref ms, (nuint)i);
        }
        for (; i < n; i++)
            absmax[i] = MathF.Max(absmax[i], MathF.Abs(Quantize.RoundTo(divide ? x[i] / divisor : x[i], dtype)));
    }

    /// <summary>The int8 values of one run: <c>round_even(clamp(r(r(x / divisor) * reciprocal)))</c>, r the compute dtype's rounding.</summary>
    public static void Values(ReadOnlySpan<float> x, ReadOnlySpan<float> reciprocal, Span<sbyte> q, DType dtype, float divisor)
    {
        int n = x.Length, w = Vector<float>.Count, i = 0;
        var d = new Vector<float>(divisor);
        bool divide = divisor != 1f, bf16 = dtype == DType.BF16;
        ref float xs = ref MemoryMarshal.GetReference(x);
        ref float rs = ref MemoryMarshal.GetReference(reciprocal);
        ref sbyte qs = ref MemoryMarshal.GetReference(q);
        for (; i <= n - 4 * w; i += 4 * w)
        {
            Vector<int> a = Step(ref xs, ref rs, i, d, divide, bf16), b = Step(ref xs, ref rs, i + w, d, divide, bf16);
            Vector<int> c = Step(ref xs, ref rs, i + 2 * w, d, divide, bf16), e = Step(ref xs, ref rs, i + 3 * w, d, divide, bf16);
            // Every value is already in [-127, 127], so the truncating narrows are exact.
            Vector.Narrow(Vector.Narrow(a, b), Vector.Narrow(c, e)).StoreUnsafe(ref qs, (nuint)i);
        }
        for (; i < n; i++)
        {
            float v = Quantize.RoundTo(divide ? x[i] / divisor : x[i], dtype);
            float product = Quantize.RoundTo(v * reciprocal[i], dtype);
            q[i] = (sbyte)MathF.Round(Math.Clamp(product, -127f, 127f), MidpointRounding.ToEven);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector<int> Step(ref float xs, ref float rs, int i, Vector<float> d, bool divide, bool bf16)
    {
        Vector<float> v = Vector.LoadUnsafe(ref xs, (nuint)i);
        if (divide) v /= d;
        if (bf16) v = RoundBf16(v);
        v *= Vector.LoadUnsafe(ref rs, (nuint)i);
        if (bf16) v = RoundBf16(v);
        v = Vector.Clamp(v, new Vector<float>(-127f), new Vector<float>(127f));
        return Vector.ConvertToInt32(Vector.Round(v));
    }

    /// <summary>
    /// Round to nearest even at bf16's 8 significant bits, kept as fp32: the bit rule of <see cref="Quantize.RoundTo"/>
    /// (add 0x7FFF plus the lowest kept bit, clear the low half), NaN passed through unchanged as there.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector<float> RoundBf16(Vector<float> v)
    {
        Vector<uint> bits = Vector.AsVectorUInt32(v);
        Vector<uint> rounded = (bits + new Vector<uint>(0x7FFFu) + ((bits >>> 16) & Vector<uint>.One)) & new Vector<uint>(0xFFFF0000u);
        Vector<uint> nan = Vector.AsVectorUInt32(Vector.Equals(v, v)); // all ones where v is a number
        return Vector.AsVectorSingle(Vector.ConditionalSelect(nan, rounded, bits));
    }
}
