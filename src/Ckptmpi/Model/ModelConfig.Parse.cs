using System.Text.Json;
using Ckptmpi.Errors;

namespace Ckptmpi.Model;

public sealed partial record ModelConfig
{
    /// <summary>Largest config.json we read; real ones are about 1 KB.</summary>
    internal const int MaxConfigBytes = 16 << 20;

    /// <summary>Reads and validates a config.json file (or the config.json inside a directory).</summary>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="CheckpointFormatException">Not valid JSON, or a required key is missing or out of range.</exception>
    /// <exception cref="UnsupportedCheckpointException">The architecture is not a registered family.</exception>
    public static ModelConfig Load(string path)
    {
        if (Directory.Exists(path)) path = System.IO.Path.Combine(path, "config.json");
        var info = new FileInfo(path);
        if (!info.Exists) throw new FileNotFoundException($"{path}: no such file (expected a HuggingFace config.json)", path);
        if (info.Length > MaxConfigBytes)
            throw new CheckpointFormatException(path, null, $"{info.Length} bytes is far too large for a config.json (limit {MaxConfigBytes}); is this the right file?");
        return Parse(System.Text.Encoding.UTF8.GetBytes(Tensors.InputFiles.ReadText(path)), path);
    }

    /// <summary>Parses config.json text. The architecture is checked first, so an unsupported model is reported as
    /// such rather than as a missing key.</summary>
    /// <exception cref="CheckpointFormatException">Not valid JSON, or a required key is missing or out of range.</exception>
    /// <exception cref="UnsupportedCheckpointException">The architecture is not a registered family.</exception>
    public static ModelConfig Parse(ReadOnlySpan<byte> json, string path)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json.ToArray(), new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
        }
        catch (JsonException e)
        {
            throw new CheckpointFormatException(path, null, $"not valid JSON (line {e.LineNumber + 1}, byte {e.BytePositionInLine}): {e.Message}", inner: e);
        }
        using (doc)
        {
            JsonElement root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new CheckpointFormatException(path, null, $"config.json must be a JSON object, found {root.ValueKind}");

            string? architecture = null;
            if (root.TryGetProperty("architectures", out JsonElement archs) && archs.ValueKind == JsonValueKind.Array && archs.GetArrayLength() > 0)
            {
                if (archs[0].ValueKind != JsonValueKind.String)
                    throw new CheckpointFormatException(path, null, "'architectures' must be a list of strings");
                architecture = archs[0].GetString();
            }
            string? modelType = OptionalString(root, "model_type", path);
            IModelFamily family = ModelFamilies.Resolve(architecture, modelType, path);

            long hidden = Required(root, "hidden_size", path);
            long heads = Required(root, "num_attention_heads", path);
            long kvHeads = Optional(root, "num_key_value_heads", path) ?? heads;
            // transformers: head_dim = getattr(config, "head_dim", None) or hidden_size // num_attention_heads
            long headDim = Optional(root, "head_dim", path) ?? hidden / heads;
            if (heads % kvHeads != 0)
                throw new CheckpointFormatException(path, null,
                    $"num_attention_heads {heads} is not a multiple of num_key_value_heads {kvHeads}; grouped-query attention needs whole groups");
            if (headDim < 1)
                throw new CheckpointFormatException(path, null, $"head_dim is {headDim} (hidden_size {hidden} / num_attention_heads {heads}); set head_dim explicitly");

            return WithinLimits(new ModelConfig
            {
                Path = path,
                Architecture = architecture,
                ModelType = modelType,
                Family = family,
                HiddenSize = hidden,
                IntermediateSize = Required(root, "intermediate_size", path),
                NumHiddenLayers = Required(root, "num_hidden_layers", path, min: 0),
                NumAttentionHeads = heads,
                NumKeyValueHeads = kvHeads,
                HeadDim = headDim,
                VocabSize = Required(root, "vocab_size", path),
                TieWordEmbeddings = OptionalBool(root, "tie_word_embeddings", path) ?? false,
                AttentionBias = OptionalBool(root, "attention_bias", path) ?? false,
                MlpBias = OptionalBool(root, "mlp_bias", path) ?? false,
                DeclaredDType = OptionalString(root, "dtype", path) ?? OptionalString(root, "torch_dtype", path),
            });
        }
    }

    private static long Required(JsonElement root, string key, string path, long min = 1) =>
        Optional(root, key, path, min) ?? throw new CheckpointFormatException(path, null, $"required key '{key}' is missing or null");

    private static long? Optional(JsonElement root, string key, string path, long min = 1)
    {
        if (!root.TryGetProperty(key, out JsonElement e) || e.ValueKind == JsonValueKind.Null) return null;
        if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt64(out long v))
            throw new CheckpointFormatException(path, null, $"'{key}' must be an integer, found {e.GetRawText()}");
        if (v < min)
            throw new CheckpointFormatException(path, null, $"'{key}' is {v}; it must be at least {min}");
        return v;
    }

    private static bool? OptionalBool(JsonElement root, string key, string path)
    {
        if (!root.TryGetProperty(key, out JsonElement e) || e.ValueKind == JsonValueKind.Null) return null;
        return e.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new CheckpointFormatException(path, null, $"'{key}' must be true or false, found {e.GetRawText()}"),
        };
    }

    private static string? OptionalString(JsonElement root, string key, string path)
    {
        if (!root.TryGetProperty(key, out JsonElement e) || e.ValueKind == JsonValueKind.Null) return null;
        if (e.ValueKind != JsonValueKind.String)
            throw new CheckpointFormatException(path, null, $"'{key}' must be a string, found {e.GetRawText()}");
        return e.GetString();
    }
}
