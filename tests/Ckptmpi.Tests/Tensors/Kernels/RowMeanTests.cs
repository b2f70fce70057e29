using System.Runtime.InteropServices;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Kernels;

namespace Ckptmpi.Tests.Tensors.Kernels;

public sealed class RowMeanTests
{
    [Test]
    public void Each_column_is_the_mean_of_its_rows_repeated()
    {
        float[] x = [1, 2, 3, 4, 5, 6];
        var output = new byte[3 * 2 * sizeof(float)];
        RowMean.Run(x, [3, 2], repeat: 3, DType.F32, DType.F32, output);
        Assert.That(MemoryMarshal.Cast<byte, float>(output).ToArray(), Is.EqualTo(new float[] { 3, 4, 3, 4, 3, 4 }));
    }

    [Test]
    public void The_mean_is_rounded_through_the_dtype_it_is_held_in()
    {
        // 1 + 2^-9 is not a bf16: held in bf16 it rounds to 1 (nearest even), and the fp32 output keeps that.
        float v = 1f + MathF.Pow(2, -9);
        var output = new byte[sizeof(float)];
        RowMean.Run([v, v], [2, 1], repeat: 1, DType.BF16, DType.F32, output);
        Assert.That(BitConverter.ToSingle(output), Is.EqualTo(1f));
        RowMean.Run([v, v], [2, 1], repeat: 1, DType.F32, DType.F32, output);
        Assert.That(BitConverter.ToSingle(output), Is.EqualTo(v));
    }

    [Test]
    public void The_sum_is_exact_where_fp32_accumulation_would_lose_bits()
    {
        // 2^24 + 1 + 1 in fp32 stays 2^24; the fp64 sum gives the true mean (2^24 + 2) / 3.
        float[] x = [16777216f, 1f, 1f];
        var output = new byte[sizeof(float)];
        RowMean.Run(x, [3, 1], repeat: 1, DType.F32, DType.F32, output);
        Assert.That(BitConverter.ToSingle(output), Is.EqualTo((float)((16777216.0 + 2) / 3)));
    }
}
