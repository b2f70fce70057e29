using System.Runtime.InteropServices;
using Ckptmpi.Tensors.Layout;
using Ckptmpi.Tensors.Views;

namespace Ckptmpi.Tensors.Kernels;

/// <summary>
/// Int8 symmetric absmax quantization of a whole fp32 array with one scale per channel (an index of the
/// non-reduced axes). In fp32, in this order: <c>absmax</c> over the channel; <c>scale = absmax / 127.5f</c> rounded
/// to nearest even to the scale dtype; <c>q = x / scale</c> with that rounded scale, rounded half to even and
/// clamped to [-127, 127]; 0 where the scale is 0 (an all-zero channel). <see cref="QuantizeRule.AqtReciprocal"/> is
/// the other arithmetic, with every intermediate rounded to the scale dtype.
/// </summary>
public static class Quantize
{
    /// <summary>Writes the scales (shape with the reduced axes at 1, as <paramref name="scaleDType"/>) or the int8 values (full shape).</summary>
    /// <param name="divisor">AQT rule only: the input is first <c>x / divisor</c>, rounded to the scale dtype.</param>
    public static void Run(ReadOnlySpan<float> x, long[] shape, int[] reduced, DType scaleDType, bool scales, Span<byte> output,
                           QuantizeRule rule = QuantizeRule.Fp32Divide, float divisor = 1f)
    {
        if (x.Length != DTypes.ElementCount(shape)) throw new ArgumentException($"{x.Length} values for shape [{string.Join(", ", shape)}]");
        if (rule == QuantizeRule.AqtReciprocal)
        {
            Aqt(x, shape, reduced, scaleDType, scales ? default : output, !scales, scales ? output : default, scales, divisor);
            return;
        }
        if (divisor != 1f) throw new ArgumentException($"the {rule} rule takes no input divisor (got {divisor})");
        long[] channelStrides = ChannelStrides(shape, reduced, out int channels);

        var absmax = new float[channels];
        Span<long> index = stackalloc long[shape.Length];
        long channel = 0;
        for (int i = 0; i < x.Length; i++)
        {
            absmax[channel] = MathF.Max(absmax[channel], MathF.Abs(x[i]));
            Step(shape, channelStrides, index, ref channel);
        }
        for (int c = 0; c < channels; c++) absmax[c] /= 127.5f;
        var stored = new byte[channels * scaleDType.SizeInBytes()];
        Cast.Convert(MemoryMarshal.AsBytes(absmax.AsSpan()), DType.F32, stored, scaleDType);
        if (scales)
        {
            stored.CopyTo(output);
            return;
        }
        var scale = new float[channels];
        Cast.Convert(stored, scaleDType, MemoryMarshal.AsBytes(scale.AsSpan()), DType.F32);
        Span<sbyte> q = MemoryMarshal.Cast<byte, sbyte>(output);
        if (q.Length != x.Length) throw new ArgumentException($"{q.Length} int8 values for {x.Length} elements");
        index.Clear();
        channel = 0;
        for (int i = 0; i < x.Length; i++)
        {
            float s = scale[channel];
            q[i] = s == 0f ? (sbyte)0 : (sbyte)Math.Clamp(MathF.Round(x[i] / s, MidpointRounding.ToEven), -127f, 127f);
            Step(shape, channelStrides, index, ref channel);
        }
    }

    /// <summary>
    /// The int8 values and the scales of one record together: the AQT rule computes the channels' absmax once for both
    /// (a pass over the fp32 record fewer, a third of the quantization's memory traffic); other rules run twice.
    /// </summary>
    public static void Run(ReadOnlySpan<float> x, long[] shape, int[] reduced, DType scaleDType, Span<byte> values, Span<byte> scales,
                           QuantizeRule rule, float divisor = 1f)
    {
        if (rule != QuantizeRule.AqtReciprocal)
        {
            Run(x, shape, reduced, scaleDType, false, values, rule, divisor);
            Run(x, shape, reduced, scaleDType, true, scales, rule, divisor);
            return;
        }
        if (x.Length != DTypes.ElementCount(shape)) throw new ArgumentException($"{x.Length} values for shape [{string.Join(", ", shape)}]");
        Aqt(x, shape, reduced, scaleDType, values, true, scales, true, divisor);
    }

    /// <summary>Strides that map an element's index to its channel (0 along the reduced axes), and the channel count.</summary>
    private static long[] ChannelStrides(long[] shape, int[] reduced, out int channels)
    {
        long[] channelShape = (long[])shape.Clone();
        foreach (int a in reduced) channelShape[a] = 1;
        channels = (int)DTypes.ElementCount(channelShape);
        long[] strides = TensorView.RowMajorStrides(channelShape);
        foreach (int a in reduced) strides[a] = 0;
        return strides;
    }

    /// <summary>
    /// AQT's order (see <see cref="QuantizeRule.AqtReciprocal"/>): each operation is computed in fp32 from values of the
    /// compute dtype and rounded back to it, as JAX does for a bf16 array (and as NumPy's bf16 type does). Two passes
    /// over the input, no copy of it: memory stays the chunk buffer's. Where channels form contiguous runs (every
    /// MaxText kernel), <see cref="AqtRuns"/> does both passes in SIMD registers with the same bytes as the loop here.
    /// </summary>
    private static void Aqt(ReadOnlySpan<float> x, long[] shape, int[] reduced, DType computeDType, Span<byte> values, bool writeValues,
                            Span<byte> scales, bool writeScales, float divisor)
    {
        if (computeDType is not (DType.BF16 or DType.F16 or DType.F32)) throw new ArgumentException($"AQT quantization computes in bf16, f16 or f32, not {computeDType}");
        long[] channelStrides = ChannelStrides(shape, reduced, out int channels);

        long run = AqtRuns.RunLength(shape, reduced, computeDType, out int outerAxes);
        long[] outerShape = shape[..outerAxes], outerStrides = channelStrides[..outerAxes];

        var scale = new float[channels];
        Span<long> index = stackalloc long[shape.Length];
        long channel = 0;
        if (run > 0)
        {
            // Runs of consecutive channels: the outer index moves the channel base once per run.
            for (long at = 0; at < x.Length; at += run)
            {
                AqtRuns.AbsMax(x.Slice((int)at, (int)run), scale.AsSpan((int)channel, (int)run), computeDType, divisor);
                Step(outerShape, outerStrides, index, ref channel);
            }
        }
        else
        {
            for (int i = 0; i < x.Length; i++)
            {
                scale[channel] = MathF.Max(scale[channel], MathF.Abs(RoundTo(divisor == 1f ? x[i] : x[i] / divisor, computeDType)));
                Step(shape, channelStrides, index, ref channel);
            }
        }
        for (int c = 0; c < channels; c++) scale[c] = RoundTo((scale[c] == 0f ? 1f : scale[c]) / 127.5f, computeDType);
        if (writeScales) Cast.Convert(MemoryMarshal.AsBytes(scale.AsSpan()), DType.F32, scales[..(channels * computeDType.SizeInBytes())], computeDType);
        if (!writeValues) return;
        var reciprocal = new float[channels];
        for (int c = 0; c < channels; c++) reciprocal[c] = RoundTo(1f / scale[c], computeDType);
        Span<sbyte> q = MemoryMarshal.Cast<byte, sbyte>(values);
        if (q.Length != x.Length) throw new ArgumentException($"{q.Length} int8 values for {x.Length} elements");
        index.Clear();
        channel = 0;
        if (run > 0)
        {
            for (long at = 0; at < x.Length; at += run)
            {
                AqtRuns.Values(x.Slice((int)at, (int)run), reciprocal.AsSpan((int)channel, (int)run), q.Slice((int)at, (int)run), computeDType, divisor);
                Step(outerShape, outerStrides, index, ref channel);
            }
            return;
        }
        for (int i = 0; i < x.Length; i++)
        {
            float product = RoundTo(RoundTo(divisor == 1f ? x[i] : x[i] / divisor, computeDType) * reciprocal[channel], computeDType);
            q[i] = (sbyte)MathF.Round(Math.Clamp(product, -127f, 127f), MidpointRounding.ToEven);
            Step(shape, channelStrides, index, ref channel);
        }
    }

    /// <summary>The value of <paramref name="dtype"/> nearest to <paramref name="v"/> (ties to even), as fp32.</summary>
    internal static float RoundTo(float v, DType dtype)
    {
        switch (dtype)
        {
            case DType.BF16:
                uint bits = BitConverter.SingleToUInt32Bits(v);
                if (float.IsNaN(v)) return v;
                bits += 0x7FFFu + ((bits >> 16) & 1u);
                return BitConverter.UInt32BitsToSingle(bits & 0xFFFF0000u);
            case DType.F16:
                return (float)(Half)v;
            default:
                return v;
        }
    }

    /// <summary>Moves <paramref name="index"/> to the next element in row-major order, keeping its channel in step.</summary>
    private static void Step(long[] shape, long[] channelStrides, Span<long> index, ref long channel)
    {
        for (int a = shape.Length - 1; a >= 0; a--)
        {
            channel += channelStrides[a];
            if (++index[a] < shape[a]) return;
            channel -= channelStrides[a] * shape[a];
            index[a] = 0;
        }
    }
}
