using System.Runtime.InteropServices;

namespace Ckptmpi.Tensors.Kernels;

/// <summary>
/// The per-column mean of a row-major <c>[rows, cols...]</c> fp32 array (<see cref="Layout.TensorOpKind.MeanRows"/>):
/// summed in fp64 in row order, divided by the row count, rounded to fp32, then to the dtype the value is held in,
/// then to the output dtype, and written <c>repeat</c> times. The fp64 sum keeps the result independent of any
/// blocking, so every rank and every buffer size writes the same bits.
/// </summary>
public static class RowMean
{
    public static void Run(ReadOnlySpan<float> x, long[] shape, long repeat, DType heldIn, DType to, Span<byte> output)
    {
        if (shape.Length < 2 || shape[0] < 1) throw new ArgumentException($"a row mean needs a [rows, cols] record with rows, not [{string.Join(", ", shape)}]");
        long rows = shape[0];
        int cols = checked((int)(DTypes.ElementCount(shape) / rows));
        if (x.Length != rows * cols) throw new ArgumentException($"{x.Length} values for shape [{string.Join(", ", shape)}]");
        var sum = new double[cols];
        for (long r = 0; r < rows; r++)
        {
            ReadOnlySpan<float> row = x.Slice((int)(r * cols), cols);
            for (int c = 0; c < cols; c++) sum[c] += row[c];
        }
        var mean = new float[cols];
        for (int c = 0; c < cols; c++) mean[c] = (float)(sum[c] / rows);
        Span<byte> meanBytes = MemoryMarshal.AsBytes(mean.AsSpan());
        if (heldIn != DType.F32)
        {
            var held = new byte[cols * heldIn.SizeInBytes()];
            Cast.Convert(meanBytes, DType.F32, held, heldIn);
            Cast.Convert(held, heldIn, meanBytes, DType.F32);
        }
        int rowBytes = cols * to.SizeInBytes();
        if (output.Length != rowBytes * repeat) throw new ArgumentException($"{output.Length} bytes for {repeat} rows of {cols} {to}");
        Span<byte> first = output[..rowBytes];
        Cast.Convert(meanBytes, DType.F32, first, to);
        for (long i = 1; i < repeat; i++) first.CopyTo(output.Slice((int)(i * rowBytes), rowBytes));
    }
}
