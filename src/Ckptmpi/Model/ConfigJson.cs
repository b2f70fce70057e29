using System.Text.Json;
using Ckptmpi.Errors;

namespace Ckptmpi.Model;

/// <summary>
/// Typed, validated access to the keys of one parsed config.json, for the families that read it. Every value that is
/// present but of the wrong type or out of range is a <see cref="CheckpointFormatException"/> naming the key and the file.
/// Keys may have older spellings (GPT-2's <c>n_embd</c>, Falcon's <c>n_head_kv</c>): the first one present wins, as
/// transformers' <c>attribute_map</c> and its backward-compatible keyword arguments resolve them.
/// </summary>
public sealed class ConfigJson
{
    private readonly JsonElement _root;

    public ConfigJson(JsonElement root, string path)
    {
        _root = root;
        Path = path;
    }

    /// <summary>Where the config came from (for messages).</summary>
    public string Path { get; }

    /// <summary>The first of <paramref name="keys"/> present; a format error naming the first key when none is.</summary>
    public long Required(params string[] keys) => Required(1, keys);

    public long Required(long min, params string[] keys) =>
        Optional(min, keys) ?? throw new CheckpointFormatException(Path, null, $"required key '{keys[0]}' is missing or null");

    public long? Optional(params string[] keys) => Optional(1, keys);

    public long? Optional(long min, params string[] keys)
    {
        if (Find(keys) is not (string key, JsonElement e)) return null;
        if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt64(out long v))
            throw new CheckpointFormatException(Path, null, $"'{key}' must be an integer, found {e.GetRawText()}");
        if (v < min)
            throw new CheckpointFormatException(Path, null, $"'{key}' is {v}; it must be at least {min}");
        return v;
    }

    public bool? OptionalBool(params string[] keys)
    {
        if (Find(keys) is not (string key, JsonElement e)) return null;
        return e.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new CheckpointFormatException(Path, null, $"'{key}' must be true or false, found {e.GetRawText()}"),
        };
    }

    public string? OptionalString(params string[] keys)
    {
        if (Find(keys) is not (string key, JsonElement e)) return null;
        if (e.ValueKind != JsonValueKind.String)
            throw new CheckpointFormatException(Path, null, $"'{key}' must be a string, found {e.GetRawText()}");
        return e.GetString();
    }

    private (string Key, JsonElement Value)? Find(string[] keys)
    {
        foreach (string key in keys)
        {
            if (_root.TryGetProperty(key, out JsonElement e) && e.ValueKind != JsonValueKind.Null) return (key, e);
        }
        return null;
    }
}
