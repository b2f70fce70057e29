using System.Buffers.Binary;
using System.Text;
using Ckptmpi.Formats.Safetensors;
using Ckptmpi.Tensors;

namespace Ckptmpi.Tests.Formats.Safetensors;

/// <summary>Builders for safetensors bytes in tests: hand-written (possibly broken) headers and files written by our writer.</summary>
internal static class SafetensorsTestFiles
{
    /// <summary>8-byte length + <paramref name="json"/> (space-padded to 8 unless told) + <paramref name="dataLength"/> data bytes.</summary>
    public static byte[] Raw(string json, long dataLength, bool pad = true, ulong? declaredLength = null)
    {
        byte[] utf8 = Encoding.UTF8.GetBytes(json);
        int n = pad ? (utf8.Length + 7) / 8 * 8 : utf8.Length;
        byte[] bytes = new byte[8 + n + dataLength];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, declaredLength ?? (ulong)n);
        utf8.CopyTo(bytes, 8);
        bytes.AsSpan(8 + utf8.Length, n - utf8.Length).Fill((byte)' ');
        for (long i = 0; i < dataLength; i++) bytes[8 + n + i] = (byte)(i * 31 + 7);
        return bytes;
    }

    /// <summary>The deterministic integer behind element <paramref name="i"/> of the <paramref name="k"/>-th tensor, in [-128, 127].</summary>
    public static long Value(int k, long i) => (i * 7919 + k * 131) % 256 - 128;

    /// <summary>The same values in Python/torch for dtype name <c>dt</c> (floats r/4, exact in bf16; ints r; u8 r+128; bool r>0).</summary>
    public const string PythonExpected = """
        def expected(k, n, dt):
            r = (torch.arange(n, dtype=torch.int64) * 7919 + k * 131) % 256 - 128
            if dt in ('F64', 'F32', 'F16', 'BF16'): return (r.to(torch.float64) / 4).to(DT[dt])
            if dt == 'U8': return (r + 128).to(torch.uint8)
            if dt == 'BOOL': return r > 0
            return r.to(DT[dt])
        """;

    /// <summary>Fills tensor chunks with <see cref="Value"/>, encoded as <paramref name="dtypes"/>[name].</summary>
    public static TensorChunkFiller Filler(IReadOnlyList<(string Name, DType DType, long[] Shape)> tensors)
    {
        var index = tensors.Select((t, k) => (t.Name, k, t.DType)).ToDictionary(x => x.Name, x => (x.k, x.DType));
        return (name, first, dst) =>
        {
            (int k, DType dtype) = index[name];
            int size = dtype.SizeInBytes();
            for (int j = 0; j < dst.Length / size; j++)
                Encode(Value(k, first + j), dtype, dst.Slice(j * size, size));
        };
    }

    public static void Encode(long r, DType dtype, Span<byte> dst)
    {
        double v = r / 4.0;
        switch (dtype)
        {
            case DType.F64: BinaryPrimitives.WriteDoubleLittleEndian(dst, v); break;
            case DType.F32: BinaryPrimitives.WriteSingleLittleEndian(dst, (float)v); break;
            case DType.F16: BinaryPrimitives.WriteHalfLittleEndian(dst, (Half)v); break;
            case DType.BF16: BinaryPrimitives.WriteUInt16LittleEndian(dst, (ushort)(BitConverter.SingleToUInt32Bits((float)v) >> 16)); break; // exact: 8 significant bits
            case DType.I64: BinaryPrimitives.WriteInt64LittleEndian(dst, r); break;
            case DType.I32: BinaryPrimitives.WriteInt32LittleEndian(dst, (int)r); break;
            case DType.I16: BinaryPrimitives.WriteInt16LittleEndian(dst, (short)r); break;
            case DType.I8: dst[0] = (byte)(sbyte)r; break;
            case DType.U8: dst[0] = (byte)(r + 128); break;
            case DType.Bool: dst[0] = r > 0 ? (byte)1 : (byte)0; break;
        }
    }

    /// <summary>Writes <paramref name="tensors"/> with <see cref="SafetensorsLayout"/> and <see cref="SafetensorsWriter"/> into <paramref name="dir"/>.</summary>
    public static void WriteCheckpoint(string dir, IReadOnlyList<(string Name, DType DType, long[] Shape)> tensors, long maxShardBytes = long.MaxValue, int chunkBytes = 64)
    {
        SafetensorsWriter.Write(SafetensorsLayout.For(tensors, maxShardBytes), dir, Filler(tensors), chunkBytes);
    }

    public static readonly (string Name, DType DType, long[] Shape)[] Small =
    [
        ("model.embed_tokens.weight", DType.BF16, [16, 8]),
        ("model.norm.weight", DType.BF16, [8]),
        ("lm_head.weight", DType.BF16, [16, 8]),
        ("step", DType.I64, []),
        ("empty", DType.F32, [0, 4]),
    ];
}
