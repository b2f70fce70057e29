using System.Text;
using System.Text.Json;
using System.Text.Unicode;
using Ckptmpi.Errors;
using Ckptmpi.Tensors;

namespace Ckptmpi.Formats.Safetensors;

// The JSON half of SafetensorsHeader.Parse: a strict pull parse with Utf8JsonReader, so every error carries the
// byte offset where it was found and no intermediate document is built.
public sealed partial class SafetensorsHeader
{
    private static (List<Entry> Entries, Dictionary<string, string> Metadata) ParseJson(ReadOnlySpan<byte> json, string path)
    {
        const long at0 = SafetensorsFormat.LengthPrefixSize;
        if (json.IsEmpty || json[0] != (byte)'{')
            throw new CheckpointFormatException(path, at0, "the header does not start with '{'; the file is not safetensors");
        if (!Utf8.IsValid(json))
            throw new CheckpointFormatException(path, at0 + FirstInvalidUtf8(json), "the header is not valid UTF-8");

        var entries = new List<Entry>();
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        var keys = new HashSet<string>(StringComparer.Ordinal);
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Disallow, AllowTrailingCommas = false });
        try
        {
            Expect(ref reader, JsonTokenType.StartObject, path, "the header");
            while (true)
            {
                Next(ref reader, path);
                if (reader.TokenType == JsonTokenType.EndObject) break;
                long keyOffset = at0 + reader.TokenStartIndex;
                string key = reader.GetString()!;
                if (!keys.Add(key))
                    throw new CheckpointFormatException(path, keyOffset, $"key '{key}' appears twice in the header", key == SafetensorsFormat.MetadataKey ? null : key);
                if (key == SafetensorsFormat.MetadataKey) ParseMetadata(ref reader, path, metadata);
                else entries.Add(ParseEntry(ref reader, path, key, keyOffset));
            }
            // Only whitespace (the space padding) may follow the object; the reader throws on anything else.
            if (reader.Read())
                throw new CheckpointFormatException(path, at0 + reader.TokenStartIndex, "unexpected data after the header's JSON object");
        }
        catch (JsonException e)
        {
            throw new CheckpointFormatException(path, at0 + reader.BytesConsumed, $"the header is not valid JSON: {e.Message}", inner: e);
        }
        catch (InvalidOperationException e) // GetString on an escape that is not valid UTF-16 (a lone surrogate)
        {
            throw new CheckpointFormatException(path, at0 + reader.TokenStartIndex, $"the header holds a string that is not valid Unicode: {e.Message}", inner: e);
        }
        return (entries, metadata);
    }

    private static void ParseMetadata(ref Utf8JsonReader reader, string path, Dictionary<string, string> metadata)
    {
        Next(ref reader, path);
        if (reader.TokenType == JsonTokenType.Null) return;
        Require(ref reader, JsonTokenType.StartObject, path, SafetensorsFormat.MetadataKey);
        while (true)
        {
            Next(ref reader, path);
            if (reader.TokenType == JsonTokenType.EndObject) return;
            string key = reader.GetString()!;
            long at = SafetensorsFormat.LengthPrefixSize + reader.TokenStartIndex;
            Next(ref reader, path);
            if (reader.TokenType != JsonTokenType.String)
                throw new CheckpointFormatException(path, at, $"{SafetensorsFormat.MetadataKey} entry '{key}' is {reader.TokenType}, but metadata values must be strings");
            if (!metadata.TryAdd(key, reader.GetString()!))
                throw new CheckpointFormatException(path, at, $"{SafetensorsFormat.MetadataKey} key '{key}' appears twice");
        }
    }

    private static Entry ParseEntry(ref Utf8JsonReader reader, string path, string name, long at)
    {
        Next(ref reader, path);
        if (reader.TokenType != JsonTokenType.StartObject)
            throw new CheckpointFormatException(path, at, $"the entry is {reader.TokenType}, expected an object with dtype, shape and data_offsets", name);
        string? dtypeName = null;
        long[]? shape = null, offsets = null;
        while (true)
        {
            Next(ref reader, path);
            if (reader.TokenType == JsonTokenType.EndObject) break;
            string field = reader.GetString()!;
            switch (field)
            {
                case SafetensorsFormat.DTypeKey:
                    if (dtypeName is not null) throw Duplicate(path, at, name, field);
                    Next(ref reader, path);
                    if (reader.TokenType != JsonTokenType.String)
                        throw new CheckpointFormatException(path, at, $"dtype is {reader.TokenType}, expected a string", name);
                    dtypeName = reader.GetString()!;
                    break;
                case SafetensorsFormat.ShapeKey:
                    if (shape is not null) throw Duplicate(path, at, name, field);
                    shape = ReadIntegers(ref reader, path, name, at, field);
                    break;
                case SafetensorsFormat.DataOffsetsKey:
                    if (offsets is not null) throw Duplicate(path, at, name, field);
                    offsets = ReadIntegers(ref reader, path, name, at, field);
                    if (offsets.Length != 2)
                        throw new CheckpointFormatException(path, at, $"data_offsets has {offsets.Length} numbers, expected [begin, end]", name);
                    break;
                default:
                    // The reference reader ignores unknown fields; so do we, so that we accept what it accepts.
                    Next(ref reader, path);
                    reader.Skip();
                    break;
            }
        }
        if (dtypeName is null || shape is null || offsets is null)
            throw new CheckpointFormatException(path, at, $"the entry lacks {(dtypeName is null ? "dtype" : shape is null ? "shape" : "data_offsets")}", name);
        return new Entry(name, ParseDType(dtypeName, path, name, at), shape, offsets[0], offsets[1], at);
    }

    private static DType ParseDType(string dtype, string path, string name, long at)
    {
        if (DTypes.TryParseSafetensors(dtype, out DType t)) return t;
        if (SafetensorsFormat.KnownUnsupportedDTypes.Contains(dtype))
            throw new UnsupportedCheckpointException(path, $"tensor '{name}' (header byte {at}) has dtype {dtype}, which ckptmpi does not convert; supported: {SupportedDTypeNames}");
        throw new CheckpointFormatException(path, at, $"unknown dtype '{dtype}'; safetensors dtypes are {SupportedDTypeNames} and {string.Join(", ", SafetensorsFormat.KnownUnsupportedDTypes)}", name);
    }

    private static string SupportedDTypeNames => string.Join(", ", Enum.GetValues<DType>().Select(d => d.SafetensorsName()));

    private static long[] ReadIntegers(ref Utf8JsonReader reader, string path, string name, long at, string field)
    {
        Next(ref reader, path);
        if (reader.TokenType != JsonTokenType.StartArray)
            throw new CheckpointFormatException(path, at, $"{field} is {reader.TokenType}, expected an array of non-negative integers", name);
        var values = new List<long>();
        while (true)
        {
            Next(ref reader, path);
            if (reader.TokenType == JsonTokenType.EndArray) return values.ToArray();
            if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out long v) || v < 0)
                throw new CheckpointFormatException(path, SafetensorsFormat.LengthPrefixSize + reader.TokenStartIndex,
                    $"{field} holds '{Encoding.UTF8.GetString(reader.ValueSpan)}', expected a non-negative 64-bit integer", name);
            values.Add(v);
        }
    }

    private static CheckpointFormatException Duplicate(string path, long at, string name, string field) =>
        new(path, at, $"field '{field}' appears twice in the entry", name);

    private static void Next(ref Utf8JsonReader reader, string path)
    {
        if (!reader.Read())
            throw new CheckpointFormatException(path, SafetensorsFormat.LengthPrefixSize + reader.BytesConsumed, "the header's JSON ends early");
    }

    private static void Expect(ref Utf8JsonReader reader, JsonTokenType type, string path, string what)
    {
        Next(ref reader, path);
        Require(ref reader, type, path, what);
    }

    private static void Require(ref Utf8JsonReader reader, JsonTokenType type, string path, string what)
    {
        if (reader.TokenType != type)
            throw new CheckpointFormatException(path, SafetensorsFormat.LengthPrefixSize + reader.TokenStartIndex, $"{what} is {reader.TokenType}, expected {type}");
    }

    private static int FirstInvalidUtf8(ReadOnlySpan<byte> s)
    {
        int at = 0;
        while (at < s.Length)
        {
            if (System.Text.Rune.DecodeFromUtf8(s[at..], out _, out int used) != System.Buffers.OperationStatus.Done) return at;
            at += used;
        }
        return at;
    }
}
