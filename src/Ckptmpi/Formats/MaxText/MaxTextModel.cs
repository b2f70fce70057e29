using System.Text.Json;

namespace Ckptmpi.Formats.MaxText;

/// <summary>
/// What MaxText's <c>model_size</c> decides for a converter given HF tensors: the rotary order of the query and key
/// kernels. MaxText applies the interleaved rotary embedding to models named <c>llama3.1*</c> (and its converter
/// leaves <c>llama3.3*</c> the same way), the half-split one to every other Llama and Mistral.
/// </summary>
internal static class MaxTextModel
{
    /// <summary>Why <paramref name="name"/> is not a model this writer can target; null when it is.</summary>
    public static string? Problem(string name)
    {
        if (name.Length == 0 || name.Any(c => !(char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '.' or '-' or '_')))
            return "not a MaxText model_size (lower-case letters, digits, '.', '-' and '_')";
        if (!name.StartsWith("llama", StringComparison.Ordinal) && !name.StartsWith("mistral", StringComparison.Ordinal))
            return "only the Llama and Mistral decoders (llama2-*, llama3-*, llama3.1-*, llama3.3-*, mistral-*) are supported";
        return null;
    }

    /// <summary>Whether MaxText expects q/k rows in interleaved pairs (Meta's order) rather than HF's halves.</summary>
    public static bool Interleaved(string name) => name.StartsWith("llama3.1", StringComparison.Ordinal) || name.StartsWith("llama3.3", StringComparison.Ordinal);

    /// <summary>
    /// A model family from config.json when <c>--maxtext-model</c> is not given: Llama 3.1 rope scaling
    /// (<c>rope_scaling.rope_type</c> <c>llama3</c>) means llama3.1, a vocabulary of 128k means llama3, Mistral
    /// means mistral, anything else llama2; only the prefix matters to the layout.
    /// </summary>
    public static (string Name, string Why) Guess(string configJson)
    {
        using var doc = JsonDocument.Parse(configJson);
        JsonElement root = doc.RootElement;
        if (root.TryGetProperty("rope_scaling", out JsonElement rs) && rs.ValueKind == JsonValueKind.Object
            && (rs.TryGetProperty("rope_type", out JsonElement t) || rs.TryGetProperty("type", out t)) && t.ValueKind == JsonValueKind.String && t.GetString() == "llama3")
            return ("llama3.1", "config.json has rope_scaling of type llama3");
        if (root.TryGetProperty("model_type", out JsonElement mt) && mt.ValueKind == JsonValueKind.String && mt.GetString() == "mistral")
            return ("mistral", "config.json has model_type mistral");
        if (root.TryGetProperty("vocab_size", out JsonElement v) && v.ValueKind == JsonValueKind.Number && v.GetInt64() >= 128000)
            return ("llama3", "config.json has a vocabulary of 128k and no Llama 3.1 rope scaling");
        return ("llama2", "config.json has neither Llama 3 vocabulary nor Llama 3.1 rope scaling");
    }
}
