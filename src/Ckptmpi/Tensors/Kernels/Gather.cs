using System.Buffers;
using System.Runtime.InteropServices;

namespace Ckptmpi.Tensors.Kernels;

/// <summary>
/// The one kernel of view records: an N-d strided copy inside a buffer, from staged source bytes to the output
/// area, with an optional scale, then the cast. Copies of one dtype move runs with memcpy when both sides are
/// contiguous along the innermost axis, and transpose in 32 x 32 tiles when the destination is contiguous but the
/// source is contiguous along another axis, so both sides of a tile stay in L1. Casts and scales gather a row
/// into a pooled block and reuse <see cref="Cast.Convert"/> (round to nearest even); a scale multiplies in fp32.
/// </summary>
public static unsafe class Gather
{
    private const int Tile = 32;
    private const int BlockElements = 4096;

    /// <param name="scale">null: copy or cast; otherwise every element times it, in fp32, before the cast.</param>
    /// <exception cref="ArgumentException">a stride or offset reaches outside <paramref name="buffer"/>, or the cast is unsupported.</exception>
    public static void Run(Span<byte> buffer, int source, long[] sourceStrides, int destination, long[] destinationStrides, long[] shape,
                           DType from, DType to, float? scale = null)
    {
        bool supported = scale is null ? Cast.IsSupported(from, to) : Cast.IsSupported(from, DType.F32) && Cast.IsSupported(DType.F32, to);
        if (!supported) throw new ArgumentException($"no {(scale is null ? "cast" : "scaled cast")} from {from} to {to}");
        int fromSize = from.SizeInBytes(), toSize = to.SizeInBytes();
        CheckReach(buffer.Length, source, sourceStrides, shape, fromSize, "source");
        CheckReach(buffer.Length, destination, destinationStrides, shape, toSize, "destination");
        if (DTypes.ElementCount(shape) == 0) return;
        fixed (byte* b = buffer)
        {
            if (from == to && scale is null)
            {
                switch (fromSize)
                {
                    case 1: Copy((byte*)(b + source), sourceStrides, (byte*)(b + destination), destinationStrides, shape); break;
                    case 2: Copy((ushort*)(b + source), sourceStrides, (ushort*)(b + destination), destinationStrides, shape); break;
                    case 4: Copy((uint*)(b + source), sourceStrides, (uint*)(b + destination), destinationStrides, shape); break;
                    default: Copy((ulong*)(b + source), sourceStrides, (ulong*)(b + destination), destinationStrides, shape); break;
                }
            }
            else
            {
                Convert(b + source, sourceStrides, from, b + destination, destinationStrides, to, shape, scale);
            }
        }
    }

    private static void Copy<T>(T* src, long[] ss, T* dst, long[] ds, long[] shape) where T : unmanaged
    {
        int rank = shape.Length;
        if (rank == 0) { *dst = *src; return; }
        int inner = rank - 1;
        long n = shape[inner], si = ss[inner], di = ds[inner];
        int tileAxis = -1;
        if (di == 1 && si != 1)
        {
            for (int a = inner - 1; a >= 0; a--)
            {
                if (ss[a] == 1 && shape[a] > 1) { tileAxis = a; break; }
            }
        }
        Span<long> index = stackalloc long[rank];
        while (true)
        {
            long so = 0, dOff = 0;
            for (int a = 0; a < inner; a++) { so += index[a] * ss[a]; dOff += index[a] * ds[a]; }
            T* s = src + so;
            T* d = dst + dOff;
            if (tileAxis >= 0)
            {
                Transpose(s, si, d, ds[tileAxis], shape[tileAxis], n);
            }
            else if (si == 1 && di == 1)
            {
                Buffer.MemoryCopy(s, d, n * sizeof(T), n * sizeof(T));
            }
            else
            {
                for (long k = 0; k < n; k++) d[k * di] = s[k * si];
            }
            // Advance the outer axes (the tile axis is done whole by Transpose).
            int x = inner - 1;
            while (x >= 0 && (x == tileAxis || ++index[x] == shape[x]))
            {
                index[x] = 0;
                x--;
            }
            if (x < 0) return;
        }
    }

    /// <summary>d[r * dRow + c] = s[r + c * sCol] for r &lt; rows, c &lt; cols, tile by tile.</summary>
    private static void Transpose<T>(T* s, long sCol, T* d, long dRow, long rows, long cols) where T : unmanaged
    {
        for (long r0 = 0; r0 < rows; r0 += Tile)
        {
            long r1 = Math.Min(rows, r0 + Tile);
            for (long c0 = 0; c0 < cols; c0 += Tile)
            {
                long c1 = Math.Min(cols, c0 + Tile);
                for (long r = r0; r < r1; r++)
                {
                    T* drow = d + r * dRow;
                    T* scol = s + r;
                    for (long c = c0; c < c1; c++) drow[c] = scol[c * sCol];
                }
            }
        }
    }

    private static void Convert(byte* src, long[] ss, DType from, byte* dst, long[] ds, DType to, long[] shape, float? scale)
    {
        int fromSize = from.SizeInBytes(), toSize = to.SizeInBytes();
        int rank = shape.Length;
        long n = rank == 0 ? 1 : shape[^1];
        long si = rank == 0 ? 1 : ss[^1], di = rank == 0 ? 1 : ds[^1];
        int outer = Math.Max(0, rank - 1);
        byte[] rented = ArrayPool<byte>.Shared.Rent(BlockElements * (fromSize + toSize + sizeof(float)));
        try
        {
            Span<long> index = stackalloc long[Math.Max(1, outer)];
            index.Clear();
            fixed (byte* tmp = rented)
            {
                byte* gathered = tmp, f32 = tmp + BlockElements * fromSize, converted = f32 + BlockElements * sizeof(float);
                while (true)
                {
                    long so = 0, dOff = 0;
                    for (int a = 0; a < outer; a++) { so += index[a] * ss[a]; dOff += index[a] * ds[a]; }
                    for (long k0 = 0; k0 < n; k0 += BlockElements)
                    {
                        int m = (int)Math.Min(BlockElements, n - k0);
                        byte* s = src + (so + k0 * si) * fromSize;
                        byte* d = dst + (dOff + k0 * di) * toSize;
                        if (si != 1)
                        {
                            for (int k = 0; k < m; k++) Buffer.MemoryCopy(s + k * si * fromSize, gathered + k * fromSize, fromSize, fromSize);
                            s = gathered;
                        }
                        byte* target = di == 1 ? d : converted;
                        var input = new ReadOnlySpan<byte>(s, m * fromSize);
                        var output = new Span<byte>(target, m * toSize);
                        if (scale is float factor)
                        {
                            var floats = new Span<float>(f32, m);
                            Cast.Convert(input, from, MemoryMarshal.AsBytes(floats), DType.F32);
                            for (int k = 0; k < m; k++) floats[k] *= factor;
                            Cast.Convert(MemoryMarshal.AsBytes(floats), DType.F32, output, to);
                        }
                        else
                        {
                            Cast.Convert(input, from, output, to);
                        }
                        if (di != 1)
                        {
                            for (int k = 0; k < m; k++) Buffer.MemoryCopy(converted + k * toSize, d + k * di * toSize, toSize, toSize);
                        }
                    }
                    int x = outer - 1;
                    while (x >= 0 && ++index[x] == shape[x]) index[x--] = 0;
                    if (x < 0) return;
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private static void CheckReach(int length, int offset, long[] strides, long[] shape, int size, string side)
    {
        if (strides.Length != shape.Length) throw new ArgumentException($"{side}: {strides.Length} strides for {shape.Length} axes");
        if (DTypes.ElementCount(shape) == 0) return;
        long lo = 0, hi = 0;
        for (int i = 0; i < shape.Length; i++)
        {
            long reach = (shape[i] - 1) * strides[i];
            if (reach < 0) lo += reach; else hi += reach;
        }
        if (offset + lo * size < 0 || offset + (hi + 1) * size > length)
            throw new ArgumentException($"{side} elements [{offset + lo * size}, {offset + (hi + 1) * size}) lie outside the {length}-byte buffer");
    }
}
