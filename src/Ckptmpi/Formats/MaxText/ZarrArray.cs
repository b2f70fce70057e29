using System.Text.Json;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Views;

namespace Ckptmpi.Formats.MaxText;

/// <summary>
/// A zarr v2 array as Orbax writes it without OCDBT (TensorStore's zarr driver): a <c>.zarray</c> JSON and one
/// uncompressed, C-order file per chunk, named by its grid indices joined with dots. Chunk shapes divide the array
/// shape, so no chunk is padded.
/// </summary>
internal static class ZarrArray
{
    public const string MetadataFile = ".zarray";

    /// <summary>TensorStore's zarr v2 dtype strings (bf16 is its extension).</summary>
    public static string DTypeString(DType t) => t switch
    {
        DType.BF16 => "bfloat16",
        DType.F32 => "<f4",
        DType.F16 => "<f2",
        DType.I8 => "|i1",
        _ => throw new ArgumentOutOfRangeException(nameof(t), t, "no zarr dtype for it here"),
    };

    public static byte[] Metadata(long[] shape, long[] chunks, DType dtype)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            Numbers(w, "chunks", chunks);
            w.WriteNull("compressor");
            w.WriteString("dimension_separator", ".");
            w.WriteString("dtype", DTypeString(dtype));
            w.WriteNull("fill_value");
            w.WriteNull("filters");
            w.WriteString("order", "C");
            Numbers(w, "shape", shape);
            w.WriteNumber("zarr_format", 2);
            w.WriteEndObject();
        }
        return stream.ToArray();
    }

    /// <summary>
    /// The chunk shape of an array of <paramref name="shape"/>: <paramref name="layerAxis"/> cut to 1, then the axes
    /// of <paramref name="splitOrder"/> in turn cut to the largest divisor of their extent that brings the chunk to at
    /// most <paramref name="maxElements"/> (1 when none does, then the next axis). Axes not listed stay whole.
    /// </summary>
    public static long[] ChunkShape(long[] shape, int[] splitOrder, int? layerAxis, long maxElements)
    {
        long[] chunk = (long[])shape.Clone();
        if (layerAxis is int la) chunk[la] = Math.Min(1, shape[la]);
        foreach (int a in splitOrder)
        {
            long rest = DTypes.ElementCount(chunk) / Math.Max(1, chunk[a]);
            if (rest * chunk[a] <= maxElements) break;
            // Divisors come in pairs (n, extent / n): a search up to the square root sees them all.
            long best = 1;
            for (long n = 1; n * n <= shape[a]; n++)
            {
                if (shape[a] % n != 0) continue;
                if (n * rest <= maxElements) best = Math.Max(best, n);
                long m = shape[a] / n;
                if (m * rest <= maxElements) best = Math.Max(best, m);
            }
            chunk[a] = Math.Min(best, shape[a]);
        }
        return chunk;
    }

    /// <summary>Every chunk of the grid, in row-major grid order: its file name and its box of the array.</summary>
    public static IEnumerable<(string Name, Box Box)> Chunks(long[] shape, long[] chunk)
    {
        int rank = shape.Length;
        long[] grid = shape.Select((s, i) => chunk[i] == 0 ? 0 : s / chunk[i]).ToArray();
        if (grid.Any(g => g == 0)) yield break;
        var index = new long[rank];
        while (true)
        {
            var start = new long[rank];
            for (int i = 0; i < rank; i++) start[i] = index[i] * chunk[i];
            yield return (rank == 0 ? "0" : Name(index), new Box(start, (long[])chunk.Clone()));
            int a = rank - 1;
            while (a >= 0 && ++index[a] == grid[a]) index[a--] = 0;
            if (a < 0) yield break;
        }
    }

    /// <summary>Grid indices joined with dots, without boxing each index (a 405B tree has 10^5 chunk files).</summary>
    private static string Name(long[] index)
    {
        Span<char> text = stackalloc char[index.Length * 21];
        int at = 0;
        for (int i = 0; i < index.Length; i++)
        {
            if (i > 0) text[at++] = '.';
            index[i].TryFormat(text[at..], out int n, default, System.Globalization.CultureInfo.InvariantCulture);
            at += n;
        }
        return new string(text[..at]);
    }

    private static void Numbers(Utf8JsonWriter w, string name, long[] values)
    {
        w.WriteStartArray(name);
        foreach (long v in values) w.WriteNumberValue(v);
        w.WriteEndArray();
    }
}
