using System.Runtime.InteropServices;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Kernels;

namespace Ckptmpi.Tests.Tensors.Kernels;

/// <summary>The gather kernel against an element-by-element reference: every path (runs, tiled transpose with ragged edges, strided, broadcast, cast, scale).</summary>
public sealed class GatherTests
{
    /// <summary>Reference: element by element, through fp32 for casts and scales (exact for the dtypes involved).</summary>
    private static void Reference(byte[] buf, int src, long[] ss, int dst, long[] ds, long[] shape, DType from, DType to, float? scale)
    {
        int fs = from.SizeInBytes(), ts = to.SizeInBytes();
        long total = DTypes.ElementCount(shape);
        var index = new long[shape.Length];
        for (long e = 0; e < total; e++)
        {
            long so = 0, dOff = 0;
            for (int a = 0; a < shape.Length; a++) { so += index[a] * ss[a]; dOff += index[a] * ds[a]; }
            Span<byte> s = buf.AsSpan((int)(src + so * fs), fs), d = buf.AsSpan((int)(dst + dOff * ts), ts);
            if (scale is float f)
            {
                float x = 0;
                Cast.Convert(s, from, MemoryMarshal.AsBytes(new Span<float>(ref x)), DType.F32);
                x *= f;
                Cast.Convert(MemoryMarshal.AsBytes(new Span<float>(ref x)), DType.F32, d, to);
            }
            else
            {
                Cast.Convert(s, from, d, to);
            }
            for (int a = shape.Length - 1; a >= 0 && ++index[a] == shape[a]; a--) index[a] = 0;
        }
    }

    [TestCase(DType.BF16, DType.BF16, null), TestCase(DType.F32, DType.F32, null), TestCase(DType.I8, DType.I8, null), TestCase(DType.F64, DType.F64, null),
     TestCase(DType.F32, DType.BF16, null), TestCase(DType.BF16, DType.F32, 0.3f), TestCase(DType.F16, DType.BF16, 1.7f)]
    public void Every_layout_matches_the_reference(DType from, DType to, float? scale)
    {
        var rng = new Random(3);
        for (int round = 0; round < 60; round++)
        {
            // A source matrix [r, c] (maybe with an extra outer axis), read transposed, as rows, or broadcast; or a
            // [cols, rows, outer] source read with its last axis first (an [out, in] matrix as [in, heads, head_dim]).
            int kind = round % 4;
            long outer = kind == 3 ? rng.Next(2, 70) : rng.Next(1, 3), rows = rng.Next(1, 70), cols = rng.Next(1, 70);
            long[] shape = [outer, cols, rows];
            long[] ss = kind switch
            {
                0 => [rows * cols, 1, cols],  // transpose: destination rows are source columns
                1 => [rows * cols, rows, 1],  // rows of a [cols, rows] source as is
                2 => [0, 1, cols],            // the outer axis repeats the transposed matrix
                _ => [1, rows * outer, outer],
            };
            long[] ds = [cols * rows, rows, 1];
            int fs = from.SizeInBytes();
            int src = 8, dst = 8 + (int)(outer * rows * cols * fs) + 24;
            var a = new byte[dst + outer * rows * cols * to.SizeInBytes() + 8];
            var floats = new float[outer * rows * cols];
            for (int i = 0; i < floats.Length; i++) floats[i] = (float)(rng.NextDouble() * 8 - 4);
            if (from == DType.I8) rng.NextBytes(a.AsSpan(src, floats.Length));
            else if (from == DType.F64) for (int i = 0; i < floats.Length; i++) BitConverter.TryWriteBytes(a.AsSpan(src + i * 8), (double)floats[i]);
            else Cast.Convert(MemoryMarshal.AsBytes(floats.AsSpan()), DType.F32, a.AsSpan(src, floats.Length * fs), from);
            byte[] b = (byte[])a.Clone();

            Gather.Run(a, src, ss, dst, ds, shape, from, to, scale);
            Reference(b, src, ss, dst, ds, shape, from, to, scale);
            Assert.That(a, Is.EqualTo(b), $"round {round}: shape [{string.Join(", ", shape)}] source strides [{string.Join(", ", ss)}]");
        }
    }

    [Test]
    public void A_reach_outside_the_buffer_is_refused()
    {
        var buf = new byte[64];
        Assert.That(() => Gather.Run(buf, 0, [1], 32, [1], [17], DType.BF16, DType.BF16), Throws.ArgumentException.With.Message.Contains("outside"));
        Assert.That(() => Gather.Run(buf, 0, [1], 0, [1], [4], DType.I64, DType.F32), Throws.ArgumentException);
    }
}
