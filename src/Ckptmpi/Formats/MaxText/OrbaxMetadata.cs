using System.Text.Encodings.Web;
using System.Text.Json;

namespace Ckptmpi.Formats.MaxText;

/// <summary>
/// Orbax's <c>_METADATA</c> of a PyTree checkpoint: one <c>tree_metadata</c> entry per array, keyed by the Python
/// <c>str()</c> of the tuple of its key names, with each key's type (2: dict key, 1: list index) and the value type
/// <c>jax.Array</c>; the arrays are plain zarr v2 (<c>use_zarr3</c> false) without OCDBT (<c>use_ocdbt</c> false).
/// Orbax reads the storage layout from here, and a checkpoint without this file is not a checkpoint to it: it is
/// written last.
/// </summary>
internal static class OrbaxMetadata
{
    public const string FileName = "_METADATA";

    public static byte[] Json(IEnumerable<object[]> paths)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            w.WriteStartObject("tree_metadata");
            foreach (object[] path in paths)
            {
                w.WriteStartObject(PythonTuple(path));
                w.WriteStartArray("key_metadata");
                foreach (object key in path)
                {
                    w.WriteStartObject();
                    if (key is int index) w.WriteNumber("key", index); else w.WriteString("key", (string)key);
                    w.WriteNumber("key_type", key is int ? 1 : 2);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteStartObject("value_metadata");
                w.WriteString("value_type", "jax.Array");
                w.WriteBoolean("skip_deserialize", false);
                w.WriteEndObject();
                w.WriteEndObject();
            }
            w.WriteEndObject();
            w.WriteBoolean("use_ocdbt", false);
            w.WriteBoolean("use_zarr3", false);
            w.WriteBoolean("store_array_data_equal_to_fill_value", true);
            w.WriteNull("custom_metadata");
            w.WriteEndObject();
        }
        return stream.ToArray();
    }

    /// <summary><c>str(tuple(str(k) for k in path))</c> for key names that need no escaping (checked); written to JSON as is (no \u0027 for the quotes).</summary>
    internal static string PythonTuple(object[] path)
    {
        var names = path.Select(k => k.ToString()!).ToArray();
        if (names.Any(n => n.Contains('\'') || n.Contains('\\')))
            throw new ArgumentException($"key path {string.Join("/", names)} has a quote or backslash");
        return "(" + string.Join(", ", names.Select(n => $"'{n}'")) + (names.Length == 1 ? ",)" : ")");
    }
}
