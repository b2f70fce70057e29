namespace Ckptmpi.Tensors;

/// <summary>The element types that occur in the checkpoints we convert.</summary>
public enum DType
{
    F64,
    F32,
    F16,
    BF16,
    I64,
    I32,
    I16,
    I8,
    U8,
    Bool,
}

/// <summary>Sizes and the names each format uses for a <see cref="DType"/>.</summary>
public static class DTypes
{
    public static int SizeInBytes(this DType t) => t switch
    {
        DType.F64 or DType.I64 => 8,
        DType.F32 or DType.I32 => 4,
        DType.F16 or DType.BF16 or DType.I16 => 2,
        DType.I8 or DType.U8 or DType.Bool => 1,
        _ => throw new ArgumentOutOfRangeException(nameof(t), t, null),
    };

    public static bool IsFloatingPoint(this DType t) => t is DType.F64 or DType.F32 or DType.F16 or DType.BF16;

    /// <summary>The dtype string in a safetensors header ("BF16", "F32", ...).</summary>
    public static string SafetensorsName(this DType t) => t switch
    {
        DType.F64 => "F64", DType.F32 => "F32", DType.F16 => "F16", DType.BF16 => "BF16",
        DType.I64 => "I64", DType.I32 => "I32", DType.I16 => "I16", DType.I8 => "I8",
        DType.U8 => "U8", DType.Bool => "BOOL",
        _ => throw new ArgumentOutOfRangeException(nameof(t), t, null),
    };

    public static bool TryParseSafetensors(string name, out DType t)
    {
        switch (name)
        {
            case "F64": t = DType.F64; return true;
            case "F32": t = DType.F32; return true;
            case "F16": t = DType.F16; return true;
            case "BF16": t = DType.BF16; return true;
            case "I64": t = DType.I64; return true;
            case "I32": t = DType.I32; return true;
            case "I16": t = DType.I16; return true;
            case "I8": t = DType.I8; return true;
            case "U8": t = DType.U8; return true;
            case "BOOL": t = DType.Bool; return true;
            default: t = default; return false;
        }
    }

    /// <summary>The legacy torch storage class (module <c>torch</c>) that torch.save writes for this dtype.</summary>
    public static string TorchStorageClass(this DType t) => t switch
    {
        DType.F64 => "DoubleStorage", DType.F32 => "FloatStorage", DType.F16 => "HalfStorage",
        DType.BF16 => "BFloat16Storage", DType.I64 => "LongStorage", DType.I32 => "IntStorage",
        DType.I16 => "ShortStorage", DType.I8 => "CharStorage", DType.U8 => "ByteStorage",
        DType.Bool => "BoolStorage",
        _ => throw new ArgumentOutOfRangeException(nameof(t), t, null),
    };

    public static bool TryParseTorchStorageClass(string name, out DType t)
    {
        foreach (DType d in Enum.GetValues<DType>())
        {
            if (d.TorchStorageClass() == name) { t = d; return true; }
        }
        t = default;
        return false;
    }

    /// <summary>The torch dtype attribute name (<c>torch.bfloat16</c> -> "bfloat16").</summary>
    public static string TorchName(this DType t) => t switch
    {
        DType.F64 => "float64", DType.F32 => "float32", DType.F16 => "float16", DType.BF16 => "bfloat16",
        DType.I64 => "int64", DType.I32 => "int32", DType.I16 => "int16", DType.I8 => "int8",
        DType.U8 => "uint8", DType.Bool => "bool",
        _ => throw new ArgumentOutOfRangeException(nameof(t), t, null),
    };

    /// <summary>Parses a user-facing name: bf16, fp16, fp32, float32, bfloat16, ...</summary>
    public static bool TryParseUserName(string name, out DType t)
    {
        switch (name.ToLowerInvariant())
        {
            case "fp32": case "f32": case "float32": case "float": t = DType.F32; return true;
            case "fp16": case "f16": case "float16": case "half": t = DType.F16; return true;
            case "bf16": case "bfloat16": t = DType.BF16; return true;
            case "fp64": case "f64": case "float64": case "double": t = DType.F64; return true;
            default: t = default; return false;
        }
    }

    /// <summary>Element count of a shape, with overflow checking. The empty shape (a scalar) has one element.</summary>
    public static long ElementCount(ReadOnlySpan<long> shape)
    {
        long n = 1;
        foreach (long d in shape)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(d);
            n = checked(n * d);
        }
        return n;
    }
}
