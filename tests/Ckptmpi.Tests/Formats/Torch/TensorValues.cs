using System.Buffers.Binary;
using Ckptmpi.Formats.Torch;
using Ckptmpi.Formats.Torch.Pickle;
using Ckptmpi.Tensors;

namespace Ckptmpi.Tests.Formats.Torch;

/// <summary>Reads a tensor's logical elements (row-major, through its strides) from the file, as doubles, for comparisons.</summary>
internal static class TensorValues
{
    public static double[] Read(IByteSource source, TorchArchive archive, PyTensor t)
    {
        ByteRange record = archive.RangeOf(t.Storage);
        var bytes = new byte[record.Length];
        source.ReadExactly(record.Start, bytes);
        int size = t.DType.SizeInBytes();
        long n = t.ElementCount;
        var result = new double[n];
        var index = new long[t.Shape.Count];
        for (long i = 0; i < n; i++)
        {
            long element = t.StorageOffset;
            for (int d = 0; d < index.Length; d++) element += index[d] * t.Stride[d];
            result[i] = Decode(t.DType, bytes.AsSpan((int)(element * size), size));
            for (int d = index.Length - 1; d >= 0; d--)
            {
                if (++index[d] < t.Shape[d]) break;
                index[d] = 0;
            }
        }
        return result;
    }

    public static double Decode(DType t, ReadOnlySpan<byte> e) => t switch
    {
        DType.F64 => BinaryPrimitives.ReadDoubleLittleEndian(e),
        DType.F32 => BinaryPrimitives.ReadSingleLittleEndian(e),
        DType.F16 => (double)BinaryPrimitives.ReadHalfLittleEndian(e),
        DType.BF16 => BitConverter.UInt32BitsToSingle((uint)BinaryPrimitives.ReadUInt16LittleEndian(e) << 16),
        DType.I64 => BinaryPrimitives.ReadInt64LittleEndian(e),
        DType.I32 => BinaryPrimitives.ReadInt32LittleEndian(e),
        DType.I16 => BinaryPrimitives.ReadInt16LittleEndian(e),
        DType.I8 => (sbyte)e[0],
        DType.U8 or DType.Bool => e[0],
        _ => throw new ArgumentOutOfRangeException(nameof(t)),
    };

    /// <summary>fp32 -> bf16 -> fp32 with round-to-nearest-even (torch's .to(torch.bfloat16)).</summary>
    public static double RoundToBFloat16(double v)
    {
        uint bits = BitConverter.SingleToUInt32Bits((float)v);
        uint rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000;
        return BitConverter.UInt32BitsToSingle(rounded);
    }

    public static double RoundTo(DType t, double v) => t switch
    {
        DType.BF16 => RoundToBFloat16(v),
        DType.F16 => (double)(Half)(float)v,
        DType.F32 => (float)v,
        _ => v,
    };

    /// <summary>Name -> tensor of a dict (plain or ordered) whose values are tensors.</summary>
    public static Dictionary<string, PyTensor> TensorDict(PyValue v) =>
        ((PyDict)v).Items.Where(kv => kv.Value is PyTensor).ToDictionary(kv => ((PyString)kv.Key).Value, kv => (PyTensor)kv.Value);
}
