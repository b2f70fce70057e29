using System.Buffers;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

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

    /// <param name="scale">null: copy or cast; otherwise every element times it (divided by it when <paramref name="divide"/>), in fp32, before the cast.</param>
    /// <exception cref="ArgumentException">a stride or offset reaches outside <paramref name="buffer"/>, or the cast is unsupported.</exception>
    public static void Run(Span<byte> buffer, int source, long[] sourceStrides, int destination, long[] destinationStrides, long[] shape,
                           DType from, DType to, float? scale = null, bool divide = false)
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
                Convert(b + source, sourceStrides, from, b + destination, destinationStrides, to, shape, scale, divide);
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

    /// <summary>
    /// d[r * dRow + c] = s[r + c * sCol] for r &lt; rows, c &lt; cols, in 32 x 32 tiles, a band of 32 destination rows at
    /// a time. For 2-byte elements (bf16, f16) a tile is one <see cref="Tile32"/> with AVX-512, or else 8 x 8 SSE2
    /// blocks written straight to the destination. Ragged tiles and other element sizes go element by element.
    /// </summary>
    private static void Transpose<T>(T* s, long sCol, T* d, long dRow, long rows, long cols) where T : unmanaged
    {
        bool simd = sizeof(T) == 2 && Sse2.IsSupported;
        bool wide = sizeof(T) == 2 && Avx512BW.IsSupported;
        short* scratch = stackalloc short[Tile * Tile];
        for (long r0 = 0; r0 < rows; r0 += Tile)
        {
            long r1 = Math.Min(rows, r0 + Tile);
            for (long c0 = 0; c0 < cols; c0 += Tile)
            {
                long c1 = Math.Min(cols, c0 + Tile);
                if (wide && c1 - c0 == Tile && r1 - r0 == Tile)
                {
                    Tile32(s + c0 * sCol + r0, sCol, d + r0 * dRow + c0, dRow, scratch);
                    continue;
                }
                if (simd && c1 - c0 == Tile && r1 - r0 == Tile)
                {
                    // 8 x 8 blocks straight to the destination, a band of 8 destination rows at a time: each row of
                    // the band receives one whole 64-byte line from the four blocks, so no staging copy is needed.
                    short* st = (short*)(s + c0 * sCol + r0);
                    short* dt = (short*)(d + r0 * dRow + c0);
                    for (int r = 0; r < Tile; r += 8)
                    for (int c = 0; c < Tile; c += 8)
                        Block8(st + c * sCol + r, sCol, dt + r * dRow + c, dRow);
                    continue;
                }
                for (long r = r0; r < r1; r++)
                {
                    T* drow = d + r * dRow;
                    T* scol = s + r;
                    for (long c = c0; c < c1; c++) drow[c] = scol[c * sCol];
                }
            }
        }
    }

    /// <summary>
    /// A 32 x 32 tile of 16-bit elements with AVX-512: every source row of the tile is one 64-byte load and every
    /// destination row one 64-byte store, so each cache line on either side is touched exactly once (the 8 x 8 SSE
    /// blocks touch each line four times, and at power-of-two strides the 32 lines of a tile share a few L1 sets and
    /// evict each other between touches). Two steps: 8 source rows at a time, three unpack stages transpose the 8 x 8
    /// block inside each 128-bit lane (lane L of result k holds destination row 8L + k, columns 8g..8g+7), parked in
    /// a 2 KiB L1 scratch; then, per k, a 4 x 4 transpose of 128-bit lanes across the four row groups assembles the
    /// four destination rows k, 8 + k, 16 + k, 24 + k.
    /// </summary>
    private static void Tile32<T>(T* source, long sCol, T* destination, long dRow, short* scratch) where T : unmanaged
    {
        short* s = (short*)source;
        short* d = (short*)destination;
        // Tiles run along destination rows, so the lines this tile's rows take two tiles on are requested now: the
        // stores then find them in L1 instead of waiting for 32 reads-for-ownership (0.22x -> 0.33-0.46x of a plain
        // copy on a 1 MiB bf16 matrix in L2; one tile ahead or a source prefetch measured no better). A prefetch past
        // the buffer's end is harmless: prefetches never fault.
        for (int i = 0; i < Tile; i++) Sse.Prefetch0(d + i * dRow + 2 * Tile);
        for (int g = 0; g < 4; g++)
        {
            short* sg = s + 8 * g * sCol;
            Vector512<short> a0 = Vector512.Load(sg), a1 = Vector512.Load(sg + sCol), a2 = Vector512.Load(sg + 2 * sCol), a3 = Vector512.Load(sg + 3 * sCol);
            Vector512<short> a4 = Vector512.Load(sg + 4 * sCol), a5 = Vector512.Load(sg + 5 * sCol), a6 = Vector512.Load(sg + 6 * sCol), a7 = Vector512.Load(sg + 7 * sCol);
            Vector512<int> b0 = Avx512BW.UnpackLow(a0, a1).AsInt32(), b1 = Avx512BW.UnpackHigh(a0, a1).AsInt32(), b2 = Avx512BW.UnpackLow(a2, a3).AsInt32(), b3 = Avx512BW.UnpackHigh(a2, a3).AsInt32();
            Vector512<int> b4 = Avx512BW.UnpackLow(a4, a5).AsInt32(), b5 = Avx512BW.UnpackHigh(a4, a5).AsInt32(), b6 = Avx512BW.UnpackLow(a6, a7).AsInt32(), b7 = Avx512BW.UnpackHigh(a6, a7).AsInt32();
            Vector512<long> c0 = Avx512F.UnpackLow(b0, b2).AsInt64(), c1 = Avx512F.UnpackHigh(b0, b2).AsInt64(), c2 = Avx512F.UnpackLow(b1, b3).AsInt64(), c3 = Avx512F.UnpackHigh(b1, b3).AsInt64();
            Vector512<long> c4 = Avx512F.UnpackLow(b4, b6).AsInt64(), c5 = Avx512F.UnpackHigh(b4, b6).AsInt64(), c6 = Avx512F.UnpackLow(b5, b7).AsInt64(), c7 = Avx512F.UnpackHigh(b5, b7).AsInt64();
            long* u = (long*)(scratch + 8 * g * Tile);
            Avx512F.UnpackLow(c0, c4).Store(u);
            Avx512F.UnpackHigh(c0, c4).Store(u + 8);
            Avx512F.UnpackLow(c1, c5).Store(u + 16);
            Avx512F.UnpackHigh(c1, c5).Store(u + 24);
            Avx512F.UnpackLow(c2, c6).Store(u + 32);
            Avx512F.UnpackHigh(c2, c6).Store(u + 40);
            Avx512F.UnpackLow(c3, c7).Store(u + 48);
            Avx512F.UnpackHigh(c3, c7).Store(u + 56);
        }
        for (int k = 0; k < 8; k++)
        {
            Vector512<long> v0 = Vector512.Load((long*)(scratch + k * Tile)), v1 = Vector512.Load((long*)(scratch + (8 + k) * Tile));
            Vector512<long> v2 = Vector512.Load((long*)(scratch + (16 + k) * Tile)), v3 = Vector512.Load((long*)(scratch + (24 + k) * Tile));
            Vector512<long> x0 = Avx512F.Shuffle4x128(v0, v1, 0x44), x1 = Avx512F.Shuffle4x128(v0, v1, 0xEE);
            Vector512<long> x2 = Avx512F.Shuffle4x128(v2, v3, 0x44), x3 = Avx512F.Shuffle4x128(v2, v3, 0xEE);
            Avx512F.Shuffle4x128(x0, x2, 0x88).Store((long*)(d + k * dRow));
            Avx512F.Shuffle4x128(x0, x2, 0xDD).Store((long*)(d + (8 + k) * dRow));
            Avx512F.Shuffle4x128(x1, x3, 0x88).Store((long*)(d + (16 + k) * dRow));
            Avx512F.Shuffle4x128(x1, x3, 0xDD).Store((long*)(d + (24 + k) * dRow));
        }
    }

    /// <summary>An 8 x 8 block of 16-bit elements: row c of the source (8 consecutive r) becomes column c of the destination.</summary>
    private static void Block8(short* s, long sCol, short* d, long dRow)
    {
        Vector128<short> a0 = Sse2.LoadVector128(s), a1 = Sse2.LoadVector128(s + sCol), a2 = Sse2.LoadVector128(s + 2 * sCol), a3 = Sse2.LoadVector128(s + 3 * sCol);
        Vector128<short> a4 = Sse2.LoadVector128(s + 4 * sCol), a5 = Sse2.LoadVector128(s + 5 * sCol), a6 = Sse2.LoadVector128(s + 6 * sCol), a7 = Sse2.LoadVector128(s + 7 * sCol);
        Vector128<int> b0 = Sse2.UnpackLow(a0, a1).AsInt32(), b1 = Sse2.UnpackHigh(a0, a1).AsInt32(), b2 = Sse2.UnpackLow(a2, a3).AsInt32(), b3 = Sse2.UnpackHigh(a2, a3).AsInt32();
        Vector128<int> b4 = Sse2.UnpackLow(a4, a5).AsInt32(), b5 = Sse2.UnpackHigh(a4, a5).AsInt32(), b6 = Sse2.UnpackLow(a6, a7).AsInt32(), b7 = Sse2.UnpackHigh(a6, a7).AsInt32();
        Vector128<long> c0 = Sse2.UnpackLow(b0, b2).AsInt64(), c1 = Sse2.UnpackHigh(b0, b2).AsInt64(), c2 = Sse2.UnpackLow(b1, b3).AsInt64(), c3 = Sse2.UnpackHigh(b1, b3).AsInt64();
        Vector128<long> c4 = Sse2.UnpackLow(b4, b6).AsInt64(), c5 = Sse2.UnpackHigh(b4, b6).AsInt64(), c6 = Sse2.UnpackLow(b5, b7).AsInt64(), c7 = Sse2.UnpackHigh(b5, b7).AsInt64();
        Sse2.Store((long*)d, Sse2.UnpackLow(c0, c4));
        Sse2.Store((long*)(d + dRow), Sse2.UnpackHigh(c0, c4));
        Sse2.Store((long*)(d + 2 * dRow), Sse2.UnpackLow(c1, c5));
        Sse2.Store((long*)(d + 3 * dRow), Sse2.UnpackHigh(c1, c5));
        Sse2.Store((long*)(d + 4 * dRow), Sse2.UnpackLow(c2, c6));
        Sse2.Store((long*)(d + 5 * dRow), Sse2.UnpackHigh(c2, c6));
        Sse2.Store((long*)(d + 6 * dRow), Sse2.UnpackLow(c3, c7));
        Sse2.Store((long*)(d + 7 * dRow), Sse2.UnpackHigh(c3, c7));
    }

    private static void Convert(byte* src, long[] ss, DType from, byte* dst, long[] ds, DType to, long[] shape, float? scale, bool divide)
    {
        int fromSize = from.SizeInBytes(), toSize = to.SizeInBytes();
        int rank = shape.Length;
        // Rows are converted independently, so the outer axes may run in any order: the one the source is contiguous
        // along goes innermost, where the strip below can tile it (a [hidden, heads, head_dim] view of an [out, in]
        // matrix otherwise moved one element, one cache line, at a time).
        if (rank > 2 && ss[^1] != 1 && ss[^2] != 1)
        {
            for (int a = rank - 3; a >= 0; a--)
            {
                if (ss[a] != 1 || shape[a] <= 1) continue;
                (ss, ds, shape) = (MoveBeforeLast(ss, a), MoveBeforeLast(ds, a), MoveBeforeLast(shape, a));
                break;
            }
        }
        long n = rank == 0 ? 1 : shape[^1];
        long si = rank == 0 ? 1 : ss[^1], di = rank == 0 ? 1 : ds[^1];
        int outer = Math.Max(0, rank - 1);
        // A source read across its rows (a transpose) is first moved, Tile destination rows at a time, into a strip
        // by the tiled transpose, so the conversion reads contiguous rows instead of one cache line per element.
        int strip = outer > 0 && si != 1 && ss[outer - 1] == 1 && shape[outer - 1] > 1 ? outer - 1 : -1;
        byte[] rented = ArrayPool<byte>.Shared.Rent(BlockElements * (fromSize + toSize + sizeof(float)));
        byte[]? stripBytes = strip >= 0 ? ArrayPool<byte>.Shared.Rent(checked((int)(Tile * n * fromSize))) : null;
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
                    byte* row = null;
                    if (strip >= 0)
                    {
                        long k = index[strip] % Tile;
                        fixed (byte* sp = stripBytes)
                        {
                            if (k == 0) TransposeBytes(src + so * fromSize, si, sp, n, Math.Min(Tile, shape[strip] - index[strip]), n, fromSize);
                            row = sp + k * n * fromSize;
                        }
                    }
                    for (long k0 = 0; k0 < n; k0 += BlockElements)
                    {
                        int m = (int)Math.Min(BlockElements, n - k0);
                        byte* s = row != null ? row + k0 * fromSize : src + (so + k0 * si) * fromSize;
                        byte* d = dst + (dOff + k0 * di) * toSize;
                        if (si != 1 && row == null)
                        {
                            Strided(s, si, gathered, 1, m, fromSize);
                            s = gathered;
                        }
                        byte* target = di == 1 ? d : converted;
                        var input = new ReadOnlySpan<byte>(s, m * fromSize);
                        var output = new Span<byte>(target, m * toSize);
                        if (scale is float factor)
                        {
                            var floats = new Span<float>(f32, m);
                            Cast.Convert(input, from, MemoryMarshal.AsBytes(floats), DType.F32);
                            // Vectorized, and exactly the per-element IEEE product or quotient (no reciprocal).
                            if (divide) TensorPrimitives.Divide(floats, factor, floats);
                            else TensorPrimitives.Multiply(floats, factor, floats);
                            Cast.Convert(MemoryMarshal.AsBytes(floats), DType.F32, output, to);
                        }
                        else
                        {
                            Cast.Convert(input, from, output, to);
                        }
                        if (di != 1) Strided(converted, 1, d, di, m, toSize);
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
            if (stripBytes is not null) ArrayPool<byte>.Shared.Return(stripBytes);
        }
    }

    /// <summary><paramref name="values"/> with axis <paramref name="axis"/> moved to just before the last.</summary>
    private static long[] MoveBeforeLast(long[] values, int axis)
    {
        var moved = new long[values.Length];
        int at = 0;
        for (int a = 0; a < values.Length - 1; a++) if (a != axis) moved[at++] = values[a];
        moved[at] = values[axis];
        moved[^1] = values[^1];
        return moved;
    }

    private static void TransposeBytes(byte* s, long sCol, byte* d, long dRow, long rows, long cols, int size)
    {
        switch (size)
        {
            case 1: Transpose(s, sCol, d, dRow, rows, cols); break;
            case 2: Transpose((ushort*)s, sCol, (ushort*)d, dRow, rows, cols); break;
            case 4: Transpose((uint*)s, sCol, (uint*)d, dRow, rows, cols); break;
            default: Transpose((ulong*)s, sCol, (ulong*)d, dRow, rows, cols); break;
        }
    }

    /// <summary>Moves <paramref name="m"/> elements of <paramref name="size"/> bytes between strided positions (strides in elements).</summary>
    private static void Strided(byte* s, long si, byte* d, long di, int m, int size)
    {
        switch (size)
        {
            case 1: for (int k = 0; k < m; k++) d[k * di] = s[k * si]; break;
            case 2: for (int k = 0; k < m; k++) ((ushort*)d)[k * di] = ((ushort*)s)[k * si]; break;
            case 4: for (int k = 0; k < m; k++) ((uint*)d)[k * di] = ((uint*)s)[k * si]; break;
            default: for (int k = 0; k < m; k++) ((ulong*)d)[k * di] = ((ulong*)s)[k * si]; break;
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
