using System.Runtime.InteropServices;
using Ckptmpi.Tensors.Views;

namespace Ckptmpi.Tensors.Kernels;

/// <summary>
/// Int8 symmetric absmax quantization of a whole fp32 array with one scale per channel (an index of the
/// non-reduced axes). In fp32, in this order: <c>absmax</c> over the channel; <c>scale = absmax / 127.5f</c> rounded
/// to nearest even to the scale dtype; <c>q = x / scale</c> with that rounded scale, rounded half to even and
/// clamped to [-127, 127]; 0 where the scale is 0 (an all-zero channel).
/// </summary>
public static class Quantize
{
    /// <summary>Writes the scales (shape with the reduced axes at 1, as <paramref name="scaleDType"/>) or the int8 values (full shape).</summary>
    public static void Run(ReadOnlySpan<float> x, long[] shape, int[] reduced, DType scaleDType, bool scales, Span<byte> output)
    {
        if (x.Length != DTypes.ElementCount(shape)) throw new ArgumentException($"{x.Length} values for shape [{string.Join(", ", shape)}]");
        long[] channelShape = (long[])shape.Clone();
        foreach (int a in reduced) channelShape[a] = 1;
        int channels = (int)DTypes.ElementCount(channelShape);
        long[] channelStrides = TensorView.RowMajorStrides(channelShape);
        foreach (int a in reduced) channelStrides[a] = 0;

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
