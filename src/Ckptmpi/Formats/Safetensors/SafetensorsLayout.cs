using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Formats.Safetensors;

/// <summary>
/// Plans a Hugging Face safetensors checkpoint (docs/formats/safetensors.md) from metadata alone: which tensors go in
/// which shard, every header byte, and where each tensor's data lands. No I/O; the executor (or
/// <see cref="SafetensorsWriter"/>) fills the <see cref="TensorSegment"/>s.
/// </summary>
public static class SafetensorsLayout
{
    /// <summary>
    /// The layout of <paramref name="tensors"/>, in the given order, cut into shards of at most
    /// <paramref name="maxShardBytes"/> bytes of tensor data: a new shard starts when the next tensor would exceed the
    /// limit, and a tensor larger than the limit gets a shard of its own (transformers' <c>shard_checkpoint</c>; it keeps
    /// tensor order, where huggingface_hub would list the oversized shard first). One shard is written as
    /// <c>model.safetensors</c> without an index; more are <c>model-0000i-of-0000N.safetensors</c> plus
    /// <c>model.safetensors.index.json</c>, the commit marker.
    /// With <paramref name="alignByDType"/>, tensors inside each shard are stably ordered by element size, largest first,
    /// as the reference writer does: then every tensor is naturally aligned even when dtypes are mixed (in given order,
    /// an f32 tensor after a bf16 tensor of odd length starts at an odd offset; valid, but not aligned).
    /// </summary>
    /// <exception cref="ArgumentException">A name repeats, a shape has a negative dimension, or the size is not positive.</exception>
    public static OutputLayout For(IReadOnlyList<(string Name, DType DType, long[] Shape)> tensors, long maxShardBytes, IReadOnlyDictionary<string, string>? metadata = null, bool alignByDType = false)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxShardBytes);
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var t in tensors)
        {
            if (!names.Add(t.Name)) throw new ArgumentException($"tensor '{t.Name}' is listed twice", nameof(tensors));
            if (t.Name == SafetensorsFormat.MetadataKey) throw new ArgumentException($"'{t.Name}' is reserved for metadata", nameof(tensors));
        }

        List<List<(string Name, DType DType, long[] Shape)>> shards = Split(tensors, maxShardBytes);
        if (alignByDType)
            shards = shards.Select(s => s.OrderByDescending(t => t.DType.SizeInBytes()).ToList()).ToList(); // OrderBy is stable
        var files = new List<OutputFile>();
        var weightMap = new SortedDictionary<string, string>(StringComparer.Ordinal);
        long totalSize = 0;
        for (int i = 0; i < shards.Count; i++)
        {
            string name = shards.Count == 1 ? SafetensorsFormat.SingleFileName : SafetensorsFormat.ShardFileName(i + 1, shards.Count);
            files.Add(ShardFile(name, shards[i], metadata));
            foreach (var t in shards[i])
            {
                weightMap[t.Name] = name;
                totalSize += ByteLength(t.DType, t.Shape);
            }
        }
        if (shards.Count > 1)
        {
            byte[] index = IndexJson(totalSize, weightMap, metadata);
            files.Add(new OutputFile(SafetensorsFormat.IndexFileName, index.Length, [new LiteralSegment(0, index)], []) { IsCommitMarker = true });
        }
        var layout = new OutputLayout(files);
        layout.Validate();
        return layout;
    }

    private static List<List<(string Name, DType DType, long[] Shape)>> Split(IReadOnlyList<(string Name, DType DType, long[] Shape)> tensors, long maxShardBytes)
    {
        var shards = new List<List<(string, DType, long[])>> { new() };
        long current = 0;
        foreach (var t in tensors)
        {
            long size = ByteLength(t.DType, t.Shape);
            if (current + size > maxShardBytes && shards[^1].Count > 0)
            {
                shards.Add([]);
                current = 0;
            }
            shards[^1].Add(t);
            current += size;
        }
        return shards;
    }

    /// <summary>One safetensors file: the 8-byte length, the space-padded JSON header, then each tensor's data in order.</summary>
    internal static OutputFile ShardFile(string name, IReadOnlyList<(string Name, DType DType, long[] Shape)> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        byte[] header = Header(tensors, metadata);
        var segments = new List<OutputSegment> { new LiteralSegment(0, header) };
        long at = header.Length;
        foreach (var t in tensors)
        {
            long count = DTypes.ElementCount(t.Shape);
            if (count > 0) segments.Add(new TensorSegment(at, t.Name, 0, count, t.DType)); // empty tensors occupy no bytes
            at = checked(at + count * t.DType.SizeInBytes());
        }
        return new OutputFile(name, at, segments, []);
    }

    /// <summary>
    /// The length prefix and header, byte for byte as the reference serializer writes them: compact JSON,
    /// <c>__metadata__</c> first with <c>"format":"pt"</c>, padded with spaces to a multiple of 8.
    /// </summary>
    internal static byte[] Header(IReadOnlyList<(string Name, DType DType, long[] Shape)> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        var json = new StringBuilder("{");
        json.Append(Quote(SafetensorsFormat.MetadataKey)).Append(":{").Append(Quote("format")).Append(':').Append(Quote("pt"));
        foreach (var (k, v) in metadata ?? new Dictionary<string, string>())
        {
            if (k != "format") json.Append(',').Append(Quote(k)).Append(':').Append(Quote(v));
        }
        json.Append('}');
        long offset = 0;
        foreach (var t in tensors)
        {
            long end = checked(offset + ByteLength(t.DType, t.Shape));
            json.Append(',').Append(Quote(t.Name)).Append(":{\"").Append(SafetensorsFormat.DTypeKey).Append("\":").Append(Quote(t.DType.SafetensorsName()))
                .Append(",\"").Append(SafetensorsFormat.ShapeKey).Append("\":[").AppendJoin(',', t.Shape.Select(d => d.ToString(CultureInfo.InvariantCulture)))
                .Append("],\"").Append(SafetensorsFormat.DataOffsetsKey).Append("\":[").Append(offset.ToString(CultureInfo.InvariantCulture)).Append(',')
                .Append(end.ToString(CultureInfo.InvariantCulture)).Append("]}");
            offset = end;
        }
        json.Append('}');
        byte[] utf8 = Encoding.UTF8.GetBytes(json.ToString());
        int padded = (utf8.Length + SafetensorsFormat.HeaderAlignment - 1) / SafetensorsFormat.HeaderAlignment * SafetensorsFormat.HeaderAlignment;
        byte[] bytes = new byte[SafetensorsFormat.LengthPrefixSize + padded];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)padded);
        utf8.CopyTo(bytes, SafetensorsFormat.LengthPrefixSize);
        bytes.AsSpan(SafetensorsFormat.LengthPrefixSize + utf8.Length).Fill(SafetensorsFormat.HeaderPadding);
        return bytes;
    }

    /// <summary>The index as transformers writes it: <c>json.dumps(index, indent=2, sort_keys=True) + "\n"</c>.</summary>
    internal static byte[] IndexJson(long totalSize, SortedDictionary<string, string> weightMap, IReadOnlyDictionary<string, string>? metadata)
    {
        var meta = new SortedDictionary<string, string>(StringComparer.Ordinal) { ["total_size"] = totalSize.ToString(CultureInfo.InvariantCulture) };
        foreach (var (k, v) in metadata ?? new Dictionary<string, string>())
        {
            if (k is not ("total_size" or "format")) meta[k] = QuotePython(v);
        }
        var s = new StringBuilder("{\n  \"metadata\": {\n");
        s.AppendJoin(",\n", meta.Select(kv => $"    {QuotePython(kv.Key)}: {kv.Value}"));
        s.Append("\n  },\n  \"weight_map\": {\n");
        s.AppendJoin(",\n", weightMap.Select(kv => $"    {QuotePython(kv.Key)}: {QuotePython(kv.Value)}"));
        s.Append(weightMap.Count > 0 ? "\n  }\n}\n" : "}\n}\n");
        return Encoding.UTF8.GetBytes(s.ToString());
    }

    private static long ByteLength(DType dtype, long[] shape) => checked(DTypes.ElementCount(shape) * dtype.SizeInBytes());

    // serde_json's escaping: quote, backslash and control characters; everything else verbatim (UTF-8).
    private static string Quote(string s) => Escape(s, asciiOnly: false);

    // Python's json.dumps default (ensure_ascii=True): non-ASCII as \uXXXX (UTF-16 units).
    private static string QuotePython(string s) => Escape(s, asciiOnly: true);

    private static string Escape(string s, bool asciiOnly)
    {
        var b = new StringBuilder(s.Length + 2).Append('"');
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': b.Append("\\\""); break;
                case '\\': b.Append("\\\\"); break;
                case '\n': b.Append("\\n"); break;
                case '\r': b.Append("\\r"); break;
                case '\t': b.Append("\\t"); break;
                case '\b': b.Append("\\b"); break;
                case '\f': b.Append("\\f"); break;
                default:
                    if (c < 0x20 || (asciiOnly && c > 0x7F)) b.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else b.Append(c);
                    break;
            }
        }
        return b.Append('"').ToString();
    }
}
