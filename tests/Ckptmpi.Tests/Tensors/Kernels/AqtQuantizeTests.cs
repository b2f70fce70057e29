using System.Runtime.InteropServices;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Kernels;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Tests.Tensors.Kernels;

/// <summary>
/// The kernel additions MaxText needs: the divide of a scaled gather and AQT's int8 arithmetic (the MaxText fixture
/// tests prove both against MaxText's converter; these pin the edge cases the fixtures do not reach).
/// </summary>
public sealed class AqtQuantizeTests
{
    [Test]
    public void Rounding_a_float_to_bf16_or_f16_equals_the_cast_kernel()
    {
        var rng = new Random(5);
        foreach (DType t in new[] { DType.BF16, DType.F16 })
        {
            for (int i = 0; i < 10_000; i++)
            {
                float v = (float)((rng.NextDouble() * 2 - 1) * Math.Pow(2, rng.Next(-20, 20)));
                byte[] narrow = new byte[t.SizeInBytes()];
                float back = 0;
                Cast.Convert(MemoryMarshal.AsBytes(new Span<float>(ref v)), DType.F32, narrow, t);
                Cast.Convert(narrow, t, MemoryMarshal.AsBytes(new Span<float>(ref back)), DType.F32);
                Assert.That(Quantize.RoundTo(v, t), Is.EqualTo(back), $"{t} {v:R}");
            }
        }
    }

    [Test]
    public void An_all_zero_channel_gets_AQTs_scale_of_1_over_127_5_and_zero_values()
    {
        float[] x = [0f, 0.5f, 0f, -1f];
        long[] shape = [2, 2];
        byte[] scales = new byte[4];
        Quantize.Run(x, shape, [0], DType.BF16, true, scales, QuantizeRule.AqtReciprocal);
        ushort[] bits = MemoryMarshal.Cast<byte, ushort>(scales).ToArray();
        // Column 0 is all zero: absmax 1 as AQT sets it; 1/127.5 = 0.0078431 rounds to bf16 0x3C01 (0.0078735), as for
        // column 1, whose absmax is 1.
        Assert.That(bits, Is.EqualTo(new ushort[] { 0x3C01, 0x3C01 }));
        byte[] values = new byte[4];
        Quantize.Run(x, shape, [0], DType.BF16, false, values, QuantizeRule.AqtReciprocal);
        Assert.That(MemoryMarshal.Cast<byte, sbyte>(values).ToArray(), Is.EqualTo(new sbyte[] { 0, 64, 0, -127 }), "r = bf16(1 / 0.0078735) = 127; 0.5 * 127 = 63.5 rounds to even 64");
        // The fp32 rule keeps its own convention: a zero scale.
        Quantize.Run(x, shape, [0], DType.BF16, true, scales);
        Assert.That(MemoryMarshal.Cast<byte, ushort>(scales)[0], Is.EqualTo(0));
    }

    [Test]
    public void The_input_divisor_quantizes_the_rounded_quotient()
    {
        var rng = new Random(9);
        float[] x = Enumerable.Range(0, 64).Select(_ => Quantize.RoundTo((float)(rng.NextDouble() * 2 - 1), DType.BF16)).ToArray();
        float[] divided = x.Select(v => Quantize.RoundTo(v / 2.828125f, DType.BF16)).ToArray();
        long[] shape = [16, 4];
        foreach (bool scales in new[] { true, false })
        {
            byte[] a = new byte[scales ? 8 : 64], b = new byte[scales ? 8 : 64];
            Quantize.Run(x, shape, [0], DType.BF16, scales, a, QuantizeRule.AqtReciprocal, 2.828125f);
            Quantize.Run(divided, shape, [0], DType.BF16, scales, b, QuantizeRule.AqtReciprocal);
            Assert.That(a, Is.EqualTo(b));
        }
        Assert.That(() => Quantize.Run(x, shape, [0], DType.BF16, true, new byte[8], QuantizeRule.Fp32Divide, 2f), Throws.ArgumentException);
    }

    [Test]
    public void A_dividing_gather_divides_rather_than_multiplies_by_the_reciprocal()
    {
        var rng = new Random(11);
        const int n = 4096;
        float[] x = Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 1000)).ToArray();
        byte[] buffer = new byte[n * 8];
        MemoryMarshal.AsBytes(x.AsSpan()).CopyTo(buffer);
        Gather.Run(buffer, 0, [1], n * 4, [1], [n], DType.F32, DType.F32, 3f, divide: true);
        float[] got = MemoryMarshal.Cast<byte, float>(buffer.AsSpan(n * 4)).ToArray();
        Assert.That(got, Is.EqualTo(x.Select(v => v / 3f).ToArray()));
        Assert.That(x.Count(v => v / 3f != v * (1f / 3f)), Is.GreaterThan(0), "the two differ on these values, so the test can tell them apart");
    }

    /// <summary>
    /// The SIMD runs (channels trailing, as in every MaxText kernel) and the scalar loop (any other layout) against an
    /// element-by-element statement of AQT's arithmetic, on values that land on halves, signed zeros, subnormals,
    /// infinities and NaN, with and without an input divisor.
    /// </summary>
    [TestCase(new long[] { 64, 96 }, new[] { 0 }, 1f)]
    [TestCase(new long[] { 64, 96 }, new[] { 0 }, 2.828125f)]
    [TestCase(new long[] { 8, 3, 4, 40 }, new[] { 0 }, 1f)]
    [TestCase(new long[] { 6, 5, 4, 40 }, new[] { 0, 2 }, 11.3125f)]
    [TestCase(new long[] { 4, 8, 3, 100 }, new[] { 0, 1 }, 1f)]
    [TestCase(new long[] { 5, 7 }, new[] { 0 }, 1f)]
    [TestCase(new long[] { 96, 64 }, new[] { 1 }, 1f)]
    [TestCase(new long[] { 6, 40, 5 }, new[] { 0, 2 }, 3f)]
    public void Every_layout_quantizes_as_the_element_by_element_statement(long[] shape, int[] reduced, float divisor)
    {
        var rng = new Random(shape.Aggregate(17, (h, v) => h * 31 + (int)v));
        int n = (int)shape.Aggregate(1L, (a, b) => a * b);
        float[] special = [0f, -0f, float.Epsilon, -1e-40f, 1e-38f, float.PositiveInfinity, float.NegativeInfinity, float.NaN, 63.5f, -0.5f];
        float[] x = new float[n];
        for (int i = 0; i < n; i++)
            x[i] = rng.Next(50) == 0 ? special[rng.Next(special.Length)] : (float)((rng.NextDouble() * 2 - 1) * Math.Pow(2, rng.Next(-8, 8)));
        // One whole channel of zeros, one holding a NaN only at its end: AQT's 1.0 absmax, and NaN propagation.
        long[] channelShape = (long[])shape.Clone();
        foreach (int a in reduced) channelShape[a] = 1;
        int channels = (int)channelShape.Aggregate(1L, (a, b) => a * b);
        int[] channelOf = ChannelOf(shape, reduced);
        for (int i = 0; i < n; i++) if (channelOf[i] == 0) x[i] = 0f;

        float[] absmax = new float[channels];
        for (int i = 0; i < n; i++)
            absmax[channelOf[i]] = MathF.Max(absmax[channelOf[i]], MathF.Abs(Quantize.RoundTo(divisor == 1f ? x[i] : x[i] / divisor, DType.BF16)));
        float[] scale = absmax.Select(m => Quantize.RoundTo((m == 0f ? 1f : m) / 127.5f, DType.BF16)).ToArray();
        sbyte[] expected = new sbyte[n];
        for (int i = 0; i < n; i++)
        {
            float r = Quantize.RoundTo(1f / scale[channelOf[i]], DType.BF16);
            float p = Quantize.RoundTo(Quantize.RoundTo(divisor == 1f ? x[i] : x[i] / divisor, DType.BF16) * r, DType.BF16);
            expected[i] = (sbyte)MathF.Round(Math.Clamp(p, -127f, 127f), MidpointRounding.ToEven);
        }
        byte[] values = new byte[n], scales = new byte[channels * 2];
        Quantize.Run(x, shape, reduced, DType.BF16, false, values, QuantizeRule.AqtReciprocal, divisor);
        Quantize.Run(x, shape, reduced, DType.BF16, true, scales, QuantizeRule.AqtReciprocal, divisor);
        Assert.That(MemoryMarshal.Cast<byte, sbyte>(values).ToArray(), Is.EqualTo(expected));
        ushort[] expectedScales = scale.Select(s => (ushort)(BitConverter.SingleToUInt32Bits(s) >> 16)).ToArray();
        Assert.That(MemoryMarshal.Cast<byte, ushort>(scales).ToArray(), Is.EqualTo(expectedScales));
        // Both from one absmax pass, as a chunk that writes the values and their scales does.
        byte[] bothValues = new byte[n], bothScales = new byte[channels * 2];
        Quantize.Run(x, shape, reduced, DType.BF16, bothValues, bothScales, QuantizeRule.AqtReciprocal, divisor);
        Assert.That(bothValues, Is.EqualTo(values));
        Assert.That(bothScales, Is.EqualTo(scales));
    }

    /// <summary>Each element's channel: its row-major index over the axes that are not reduced.</summary>
    private static int[] ChannelOf(long[] shape, int[] reduced)
    {
        int n = (int)shape.Aggregate(1L, (a, b) => a * b);
        int[] result = new int[n];
        long[] index = new long[shape.Length];
        for (int i = 0; i < n; i++)
        {
            long c = 0;
            for (int a = 0; a < shape.Length; a++) if (!reduced.Contains(a)) c = c * shape[a] + index[a];
            result[i] = (int)c;
            for (int a = shape.Length - 1; a >= 0 && ++index[a] == shape[a]; a--) index[a] = 0;
        }
        return result;
    }
}
