using System.Globalization;
using System.Text;
using System.Text.Json;
using Ckptmpi.Errors;

namespace Ckptmpi.Formats.Meta;

/// <summary>
/// Meta's <c>params.json</c>: the model arguments of Llama's reference code (<c>ModelArgs</c>), read and written.
/// Some releases nest them under <c>"model"</c>.
/// </summary>
public sealed record MetaParams
{
    public const string FileName = "params.json";

    public required long Dim { get; init; }
    public required long Layers { get; init; }
    public required long Heads { get; init; }

    /// <summary>Declared KV heads (absent: <see cref="Heads"/>); counts duplicated heads of an MP &gt; KV-heads layout.</summary>
    public required long KvHeads { get; init; }

    /// <summary>Write <c>n_kv_heads</c> even when it equals <c>n_heads</c> (duplicated heads of a GQA model).</summary>
    public bool ExplicitKvHeads { get; init; }

    /// <summary>-1 in Llama 2 (the tokenizer decides).</summary>
    public required long VocabSize { get; init; }
    public required long MultipleOf { get; init; }
    public double? FfnDimMultiplier { get; init; }
    public required double NormEps { get; init; }
    public required double RopeTheta { get; init; }
    public bool UseScaledRope { get; init; }

    /// <summary>Llama 3.2's override of the 3.1 scale factor (8).</summary>
    public double? RopeScalingFactor { get; init; }

    /// <summary>The FFN width Meta's <c>FeedForward</c> computes: <c>int(2*4*dim/3)</c>, times the multiplier, rounded up to <c>multiple_of</c>.</summary>
    public long FfnDim => FfnDimOf(Dim, MultipleOf, FfnDimMultiplier);

    public static long FfnDimOf(long dim, long multipleOf, double? multiplier)
    {
        long hidden = 2 * (4 * dim) / 3;
        if (multiplier is double m) hidden = (long)(m * hidden);
        return multipleOf * ((hidden + multipleOf - 1) / multipleOf);
    }

    /// <exception cref="CheckpointFormatException">not JSON, or a required key is missing or not a number.</exception>
    public static MetaParams Parse(string text, string path)
    {
        try
        {
            using var doc = JsonDocument.Parse(text);
            JsonElement root = doc.RootElement;
            if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("model", out JsonElement nested) && nested.ValueKind == JsonValueKind.Object) root = nested;
            if (root.ValueKind != JsonValueKind.Object) throw new CheckpointFormatException(path, null, "params.json is not a JSON object");
            long Int(string key) => root.TryGetProperty(key, out JsonElement e) && e.TryGetInt64(out long v) ? v
                : throw new CheckpointFormatException(path, null, $"params.json has no integer '{key}'");
            long? OptInt(string key) => root.TryGetProperty(key, out JsonElement e) && e.ValueKind != JsonValueKind.Null ? e.TryGetInt64(out long v) ? v
                : throw new CheckpointFormatException(path, null, $"params.json '{key}' is not an integer") : null;
            double? OptNum(string key) => root.TryGetProperty(key, out JsonElement e) && e.ValueKind != JsonValueKind.Null ? e.ValueKind == JsonValueKind.Number ? e.GetDouble()
                : throw new CheckpointFormatException(path, null, $"params.json '{key}' is not a number") : null;
            var p = new MetaParams
            {
                Dim = Int("dim"),
                Layers = Int("n_layers"),
                Heads = Int("n_heads"),
                KvHeads = OptInt("n_kv_heads") ?? Int("n_heads"),
                VocabSize = OptInt("vocab_size") ?? -1,
                MultipleOf = OptInt("multiple_of") ?? 256,
                FfnDimMultiplier = OptNum("ffn_dim_multiplier"),
                NormEps = OptNum("norm_eps") ?? 1e-5,
                RopeTheta = OptNum("rope_theta") ?? 10000.0,
                UseScaledRope = root.TryGetProperty("use_scaled_rope", out JsonElement s) && s.ValueKind == JsonValueKind.True,
                RopeScalingFactor = OptNum("rope_scaling_factor"),
            };
            p.Validate(path);
            return p;
        }
        catch (JsonException e)
        {
            throw new CheckpointFormatException(path, null, $"params.json is not valid JSON: {e.Message}", null, e);
        }
    }

    private void Validate(string path)
    {
        if (Dim < 1 || Layers < 1 || Heads < 1 || KvHeads < 1 || MultipleOf < 1)
            throw new CheckpointFormatException(path, null, $"params.json: dim {Dim}, n_layers {Layers}, n_heads {Heads}, n_kv_heads {KvHeads} and multiple_of {MultipleOf} must be positive");
        if (Dim % Heads != 0) throw new CheckpointFormatException(path, null, $"params.json: dim {Dim} is not a multiple of n_heads {Heads}");
        if ((Dim / Heads) % 2 != 0) throw new CheckpointFormatException(path, null, $"params.json: the head dim {Dim / Heads} is odd, so rotary pairs cannot be formed");
        if (Heads % KvHeads != 0) throw new CheckpointFormatException(path, null, $"params.json: n_heads {Heads} is not a multiple of n_kv_heads {KvHeads}");
    }

    /// <summary>params.json in the key order of Meta's releases; <c>n_kv_heads</c> only when it differs from <c>n_heads</c>.</summary>
    public string ToJson()
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            w.WriteNumber("dim", Dim);
            w.WriteNumber("n_layers", Layers);
            w.WriteNumber("n_heads", Heads);
            if (KvHeads != Heads || ExplicitKvHeads) w.WriteNumber("n_kv_heads", KvHeads);
            w.WriteNumber("vocab_size", VocabSize);
            w.WriteNumber("multiple_of", MultipleOf);
            if (FfnDimMultiplier is double m) WriteFloat(w, "ffn_dim_multiplier", m);
            WriteFloat(w, "norm_eps", NormEps);
            WriteFloat(w, "rope_theta", RopeTheta);
            if (UseScaledRope) w.WriteBoolean("use_scaled_rope", true);
            if (RopeScalingFactor is double f) WriteFloat(w, "rope_scaling_factor", f);
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    /// <summary>A float as Python's json writes it (always with a point or exponent), so Meta's code reads a float back.</summary>
    internal static void WriteFloat(Utf8JsonWriter w, string key, double value)
    {
        string text = value.ToString("R", CultureInfo.InvariantCulture);
        // Python writes 1e-05, not .NET's 1E-05.
        text = text.Replace('E', 'e');
        if (!text.Contains('.') && !text.Contains('e')) text += ".0";
        w.WritePropertyName(key);
        w.WriteRawValue(text);
    }

    /// <summary>Multipliers Meta has published (Llama 3: 1.3, 405B: 1.2, 70B: 1.3), tried after none.</summary>
    private static readonly double?[] Multipliers = [null, 1.3, 1.2, 1.5, 1.0, 2.0];

    /// <summary>
    /// A <c>multiple_of</c> and <c>ffn_dim_multiplier</c> for which Meta's formula gives exactly <paramref name="ffnDim"/>
    /// (an HF config carries only the result): published multipliers with the largest power-of-two multiple that works,
    /// else the exact ratio with multiple 1.
    /// </summary>
    public static (long MultipleOf, double? Multiplier) FfnArgsFor(long dim, long ffnDim)
    {
        foreach (double? m in Multipliers)
        {
            for (long multiple = 4096; multiple >= 1; multiple /= 2)
            {
                if (FfnDimOf(dim, multiple, m) == ffnDim) return (multiple, m);
            }
        }
        long basis = 2 * (4 * dim) / 3;
        double exact = (ffnDim + 0.5) / basis;
        if (FfnDimOf(dim, 1, exact) == ffnDim) return (1, exact);
        throw new UnsupportedCheckpointException("config.json", $"no multiple_of / ffn_dim_multiplier makes Meta's FeedForward width {ffnDim} from dim {dim}");
    }
}
