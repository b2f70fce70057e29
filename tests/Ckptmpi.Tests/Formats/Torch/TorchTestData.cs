using System.Buffers.Binary;
using Ckptmpi.Formats.Torch.Pickle;
using Ckptmpi.Tensors;

namespace Ckptmpi.Tests.Formats.Torch;

/// <summary>Builds tensors whose element i holds a value derived from i, with the matching torch expression for Python to compare against.</summary>
internal static class TorchTestData
{
    /// <summary>Element i of a test storage: small integers (exact in every dtype), alternating sign for signed types.</summary>
    public static double ValueAt(DType t, long i) => t switch
    {
        DType.Bool => i % 3 == 0 ? 1 : 0,
        DType.U8 => i % 251,
        DType.I8 => (i % 127) - 63,
        _ => t.IsFloatingPoint() ? ((i % 200) - 100) * 0.5 : (i % 2000) - 1000, // exact in bf16
    };

    /// <summary>The same values as a Python expression over a torch.arange <c>i</c>.</summary>
    public static string PythonExpression(DType t) => t switch
    {
        DType.Bool => "(i % 3 == 0)",
        DType.U8 => "(i % 251)",
        DType.I8 => "((i % 127) - 63)",
        _ => t.IsFloatingPoint() ? "(((i % 200) - 100) * 0.5)" : "((i % 2000) - 1000)",
    };

    public static byte[] StorageBytes(TorchStorage s)
    {
        var b = new byte[s.ByteLength];
        int size = s.DType.SizeInBytes();
        for (long i = 0; i < s.ElementCount; i++)
        {
            Span<byte> e = b.AsSpan((int)(i * size), size);
            double v = ValueAt(s.DType, i);
            switch (s.DType)
            {
                case DType.F64: BinaryPrimitives.WriteDoubleLittleEndian(e, v); break;
                case DType.F32: BinaryPrimitives.WriteSingleLittleEndian(e, (float)v); break;
                case DType.F16: BinaryPrimitives.WriteHalfLittleEndian(e, (Half)v); break;
                case DType.BF16: BinaryPrimitives.WriteUInt16LittleEndian(e, (ushort)(BitConverter.SingleToUInt32Bits((float)v) >> 16)); break;
                case DType.I64: BinaryPrimitives.WriteInt64LittleEndian(e, (long)v); break;
                case DType.I32: BinaryPrimitives.WriteInt32LittleEndian(e, (int)v); break;
                case DType.I16: BinaryPrimitives.WriteInt16LittleEndian(e, (short)v); break;
                case DType.I8: e[0] = (byte)(sbyte)v; break;
                case DType.U8: e[0] = (byte)v; break;
                case DType.Bool: e[0] = (byte)v; break;
            }
        }
        return b;
    }

    public static PyTensor Contiguous(string key, DType t, params long[] shape)
    {
        var storage = new TorchStorage(key, t, DTypes.ElementCount(shape));
        return new PyTensor(storage, 0, shape, PyTensor.ContiguousStrides(shape));
    }
}
