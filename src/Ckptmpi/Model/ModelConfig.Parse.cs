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
            var keys = new ConfigJson(root, path);
            string? modelType = keys.OptionalString("model_type");
            IModelFamily family = ModelFamilies.Resolve(architecture, modelType, path);
            return WithinLimits(family.Read(keys) with
            {
                Path = path,
                Architecture = architecture,
                ModelType = modelType,
                Family = family,
                DeclaredDType = keys.OptionalString("dtype", "torch_dtype"),
            });
        }
    }

    /// <summary>
    /// The keys every Llama-style decoder config has, with transformers' defaults: <c>num_key_value_heads</c> = heads,
    /// <c>head_dim</c> = <c>hidden_size / num_attention_heads</c>, and <c>tie_word_embeddings</c> as the family's
    /// config class defaults it (<paramref name="tiedByDefault"/>: Gemma's true, Llama's false), and a config class's own
    /// <c>head_dim</c> default where it has one (<paramref name="defaultHeadDim"/>: Gemma's 256).
    /// </summary>
    /// <exception cref="CheckpointFormatException">A key is missing, of the wrong type or out of range.</exception>
    public static ModelConfig ReadDecoder(ConfigJson keys, IModelFamily family, bool tiedByDefault, long? defaultHeadDim = null)
    {
        long hidden = keys.Required("hidden_size");
        long heads = keys.Required("num_attention_heads");
        long kvHeads = keys.Optional("num_key_value_heads") ?? heads;
        // transformers: head_dim = getattr(config, "head_dim", None) or hidden_size // num_attention_heads
        long headDim = keys.Optional("head_dim") ?? defaultHeadDim ?? hidden / heads;
        if (heads % kvHeads != 0)
            throw new CheckpointFormatException(keys.Path, null,
                $"num_attention_heads {heads} is not a multiple of num_key_value_heads {kvHeads}; grouped-query attention needs whole groups");
        if (headDim < 1)
            throw new CheckpointFormatException(keys.Path, null, $"head_dim is {headDim} (hidden_size {hidden} / num_attention_heads {heads}); set head_dim explicitly");
        return new ModelConfig
        {
            Path = keys.Path,
            Family = family,
            HiddenSize = hidden,
            IntermediateSize = keys.Required("intermediate_size"),
            NumHiddenLayers = keys.Required(0, "num_hidden_layers"),
            NumAttentionHeads = heads,
            NumKeyValueHeads = kvHeads,
            HeadDim = headDim,
            VocabSize = keys.Required("vocab_size"),
            TieWordEmbeddings = keys.OptionalBool("tie_word_embeddings") ?? tiedByDefault,
            AttentionBias = keys.OptionalBool("attention_bias") ?? false,
            MlpBias = keys.OptionalBool("mlp_bias") ?? false,
        };
    }
}
