using System.Text.Json;
using Ckptmpi.Errors;

namespace Ckptmpi.Formats.Safetensors;

/// <summary>
/// A parsed <c>model.safetensors.index.json</c>: <c>weight_map</c> (tensor name to shard
/// file, in file order, each name once) and <c>metadata.total_size</c> (bytes of tensor data, when given).
/// </summary>
public sealed class SafetensorsIndex
{
    /// <summary>An index larger than this is not an index (a 405B model's is about 100 KB).</summary>
    internal const long MaxIndexBytes = 100_000_000;

    private SafetensorsIndex(string path, long? totalSize, IReadOnlyList<KeyValuePair<string, string>> weightMap)
    {
        Path = path;
        TotalSize = totalSize;
        WeightMap = weightMap;
    }

    public string Path { get; }

    public long? TotalSize { get; }

    public IReadOnlyList<KeyValuePair<string, string>> WeightMap { get; }

    /// <exception cref="CheckpointFormatException">Not a JSON object with a string-to-string <c>weight_map</c>, a duplicate name, or a bad <c>total_size</c>.</exception>
    public static SafetensorsIndex Parse(ReadOnlySpan<byte> json, string path)
    {
        long? totalSize = null;
        List<KeyValuePair<string, string>>? weightMap = null;
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Disallow });
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
                throw new CheckpointFormatException(path, reader.TokenStartIndex, "the index is not a JSON object");
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                string key = reader.GetString()!;
                reader.Read();
                if (key == "weight_map")
                {
                    if (weightMap is not null) throw new CheckpointFormatException(path, reader.TokenStartIndex, "weight_map appears twice");
                    weightMap = ReadWeightMap(ref reader, path);
                }
                else if (key == "metadata" && reader.TokenType == JsonTokenType.StartObject)
                {
                    totalSize = ReadTotalSize(ref reader, path);
                }
                else
                {
                    reader.Skip();
                }
            }
        }
        catch (JsonException e)
        {
            throw new CheckpointFormatException(path, reader.BytesConsumed, $"the index is not valid JSON: {e.Message}", inner: e);
        }
        catch (InvalidOperationException e)
        {
            throw new CheckpointFormatException(path, reader.TokenStartIndex, $"the index is malformed: {e.Message}", inner: e);
        }
        if (weightMap is null) throw new CheckpointFormatException(path, null, "the index has no weight_map");
        return new SafetensorsIndex(path, totalSize, weightMap);
    }

    public static SafetensorsIndex Read(string path)
    {
        Tensors.InputFiles.RequireRegular(path);
        long length = new FileInfo(path).Length;
        if (length > MaxIndexBytes)
            throw new CheckpointFormatException(path, null, $"the index is {length} bytes, more than the {MaxIndexBytes}-byte limit for an index");
        return Parse(File.ReadAllBytes(path), path);
    }

    private static List<KeyValuePair<string, string>> ReadWeightMap(ref Utf8JsonReader reader, string path)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
            throw new CheckpointFormatException(path, reader.TokenStartIndex, $"weight_map is {reader.TokenType}, expected an object of tensor name to file name");
        var map = new List<KeyValuePair<string, string>>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            long at = reader.TokenStartIndex;
            string name = reader.GetString()!;
            reader.Read();
            if (reader.TokenType != JsonTokenType.String)
                throw new CheckpointFormatException(path, at, $"weight_map entry is {reader.TokenType}, expected a file name", name);
            if (!seen.Add(name))
                throw new CheckpointFormatException(path, at, "the tensor appears twice in weight_map", name);
            map.Add(new(name, reader.GetString()!));
        }
        return map;
    }

    private static long? ReadTotalSize(ref Utf8JsonReader reader, string path)
    {
        long? total = null;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            string key = reader.GetString()!;
            reader.Read();
            if (key != "total_size")
            {
                reader.Skip();
                continue;
            }
            // Some writers emit total_size as a float (e.g. 1.4e10); accept it when it is a whole number.
            if (reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out long n) && n >= 0) total = n;
            else if (reader.TokenType == JsonTokenType.Number && reader.TryGetDouble(out double d) && d >= 0 && d < 9e18 && d == Math.Floor(d)) total = (long)d;
            else throw new CheckpointFormatException(path, reader.TokenStartIndex, $"metadata.total_size is not a non-negative integer");
        }
        return total;
    }
}
