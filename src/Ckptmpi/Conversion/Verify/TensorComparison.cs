using System.Buffers.Binary;
using System.Globalization;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Conversion.Verify;

/// <summary>
/// Compares one tensor of two checkpoints element by element, in chunks: both sides are read as <c>as</c> through
/// <see cref="TensorReader"/> (the side stored in another dtype cast by the conversion kernels, round-to-nearest-even),
/// then compared bit for bit. Reports the first differing element with both values and bit patterns.
/// </summary>
public static class TensorComparison
{
    /// <summary>Null when equal; otherwise "element N of M differs: source V (0xBITS) ..., output V (0xBITS)".</summary>
    public static string? FirstMismatch(TensorReader sourceReader, SourceTensor source, TensorReader outputReader, SourceTensor output, DType @as, int bufferBytes)
    {
        int size = @as.SizeInBytes();
        long total = output.ElementCount;
        int chunk = (int)Math.Clamp(bufferBytes / 2 / size, 1, Math.Max(1, total));
        var x = new byte[(long)chunk * size];
        var y = new byte[x.Length];
        for (long at = 0; at < total; at += chunk)
        {
            int n = (int)Math.Min(chunk, total - at);
            Span<byte> a = x.AsSpan(0, n * size), b = y.AsSpan(0, n * size);
            sourceReader.Read(source, at, @as, a);
            outputReader.Read(output, at, @as, b);
            int diff = a.CommonPrefixLength(b);
            if (diff == a.Length) continue;
            int i = diff / size;
            string cast = source.Pieces.Count > 0 && source.Pieces[0].StoredDType is DType stored && stored != @as
                ? $" (stored as {Name(stored)}, {(stored.SizeInBytes() > size ? "rounded to nearest even" : stored.SizeInBytes() < size ? "widened exactly" : "converted")})" : "";
            return string.Create(CultureInfo.InvariantCulture,
                $"element {at + i} of {total} differs ({Name(@as)}): source {Describe(a.Slice(i * size, size), @as)}{cast}, output {Describe(b.Slice(i * size, size), @as)}");
        }
        return null;
    }

    private static string Name(DType t) => t.ToString().ToLowerInvariant();

    /// <summary>An element as a number and its bit pattern: "0.0999755859375 (0x3dcc)".</summary>
    public static string Describe(ReadOnlySpan<byte> e, DType t)
    {
        var ci = CultureInfo.InvariantCulture;
        return t switch
        {
            DType.F32 => $"{BinaryPrimitives.ReadSingleLittleEndian(e).ToString("R", ci)} (0x{BinaryPrimitives.ReadUInt32LittleEndian(e):x8})",
            DType.F64 => $"{BinaryPrimitives.ReadDoubleLittleEndian(e).ToString("R", ci)} (0x{BinaryPrimitives.ReadUInt64LittleEndian(e):x16})",
            DType.F16 => $"{((float)BinaryPrimitives.ReadHalfLittleEndian(e)).ToString("R", ci)} (0x{BinaryPrimitives.ReadUInt16LittleEndian(e):x4})",
            DType.BF16 => $"{BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(e) << 16).ToString("R", ci)} (0x{BinaryPrimitives.ReadUInt16LittleEndian(e):x4})",
            _ => "0x" + Convert.ToHexStringLower(e),
        };
    }
}
