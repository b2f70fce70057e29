using System.Text;
using System.Text.Json;
using Ckptmpi.Errors;
using Ckptmpi.Tensors;

namespace Ckptmpi.Formats.Meta;

/// <summary>
/// The HF <c>config.json</c> of a Meta model, with the fields and values transformers' conversion script gives
/// <c>LlamaConfig</c> (context length and special tokens by Llama line, rope scaling for 3.1), and back: the model
/// facts of an HF Llama config for the Meta writer.
/// </summary>
public static class MetaHfConfig
{
    public static string ToJson(MetaModel m, DType dtype)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteStartArray("architectures");
            w.WriteStringValue("LlamaForCausalLM");
            w.WriteEndArray();
            w.WriteString("model_type", "llama");
            w.WriteString("hidden_act", "silu");
            w.WriteNumber("hidden_size", m.Dim);
            w.WriteNumber("intermediate_size", m.FfnDim);
            w.WriteNumber("num_attention_heads", m.Heads);
            w.WriteNumber("num_hidden_layers", m.Layers);
            MetaParams.WriteFloat(w, "rms_norm_eps", m.NormEps);
            w.WriteNumber("num_key_value_heads", m.KvHeads);
            w.WriteNumber("vocab_size", m.Vocab);
            MetaParams.WriteFloat(w, "rope_theta", m.RopeTheta);
            if (m.RopeScaling is RopeScaling s)
            {
                w.WriteStartObject("rope_scaling");
                MetaParams.WriteFloat(w, "factor", s.Factor);
                MetaParams.WriteFloat(w, "low_freq_factor", s.LowFreqFactor);
                MetaParams.WriteFloat(w, "high_freq_factor", s.HighFreqFactor);
                w.WriteNumber("original_max_position_embeddings", s.OriginalMaxPositionEmbeddings);
                w.WriteString("rope_type", "llama3");
                w.WriteEndObject();
            }
            else
            {
                w.WriteNull("rope_scaling");
            }
            w.WriteNumber("max_position_embeddings", MetaVersions.MaxPositionEmbeddings(m.Version));
            (long bos, long eos) = MetaVersions.SpecialTokens(m.Version);
            w.WriteNumber("bos_token_id", bos);
            w.WriteNumber("eos_token_id", eos);
            w.WriteBoolean("tie_word_embeddings", false);
            w.WriteNumber("head_dim", m.HeadDim);
            w.WriteString("torch_dtype", dtype.TorchName());
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    /// <summary>The facts of an HF Llama <c>config.json</c> as Meta's layout needs them.</summary>
    /// <exception cref="UnsupportedCheckpointException">not a model Meta's Llama code can express.</exception>
    public static MetaModel Parse(string text, string path, string? version)
    {
        using var doc = JsonDocument.Parse(text);
        JsonElement r = doc.RootElement;
        long Int(string key) => r.TryGetProperty(key, out JsonElement e) && e.TryGetInt64(out long v) ? v
            : throw new UnsupportedCheckpointException(path, $"config.json has no integer '{key}', which the Meta layout needs");
        double Num(string key, double fallback) => r.TryGetProperty(key, out JsonElement e) && e.ValueKind == JsonValueKind.Number ? e.GetDouble() : fallback;
        string modelType = r.TryGetProperty("model_type", out JsonElement mt) && mt.ValueKind == JsonValueKind.String ? mt.GetString()! : "";
        if (modelType != "llama")
            throw new UnsupportedCheckpointException(path, $"Meta's original layout holds Llama models; config.json says model_type '{modelType}'");
        foreach (string flag in new[] { "attention_bias", "mlp_bias" })
        {
            if (r.TryGetProperty(flag, out JsonElement b) && b.ValueKind == JsonValueKind.True)
                throw new UnsupportedCheckpointException(path, $"config.json sets {flag}; Meta's Llama code has no biases");
        }
        if (r.TryGetProperty("tie_word_embeddings", out JsonElement tie) && tie.ValueKind == JsonValueKind.True)
            throw new UnsupportedCheckpointException(path, "config.json ties the output to the embedding; the Meta writer needs an lm_head of its own");
        long dim = Int("hidden_size"), heads = Int("num_attention_heads");
        long kv = r.TryGetProperty("num_key_value_heads", out JsonElement k) && k.TryGetInt64(out long kvv) ? kvv : heads;
        if (kv < 1 || heads % kv != 0) throw new UnsupportedCheckpointException(path, $"num_attention_heads {heads} is not a multiple of num_key_value_heads {kv}");
        if (dim % heads != 0) throw new UnsupportedCheckpointException(path, $"hidden_size {dim} is not a multiple of num_attention_heads {heads}");
        if (r.TryGetProperty("head_dim", out JsonElement hd) && hd.TryGetInt64(out long headDim) && headDim != dim / heads)
            throw new UnsupportedCheckpointException(path, $"head_dim {headDim} is not hidden_size / num_attention_heads = {dim / heads}; Meta's code derives the head dim from dim and n_heads");
        RopeScaling? scaling = null;
        if (r.TryGetProperty("rope_scaling", out JsonElement rs) && rs.ValueKind == JsonValueKind.Object)
        {
            string type = rs.TryGetProperty("rope_type", out JsonElement t) ? t.GetString() ?? "" : rs.TryGetProperty("type", out JsonElement t2) ? t2.GetString() ?? "" : "";
            double Get(string key) => rs.TryGetProperty(key, out JsonElement e) && e.ValueKind == JsonValueKind.Number ? e.GetDouble()
                : throw new UnsupportedCheckpointException(path, $"config.json rope_scaling has no '{key}'");
            if (type != "llama3") throw new UnsupportedCheckpointException(path, $"rope_scaling type '{type}' has no equivalent in Meta's params.json (only Llama 3.1's 'llama3')");
            scaling = new RopeScaling(Get("factor"), Get("low_freq_factor"), Get("high_freq_factor"), (long)Get("original_max_position_embeddings"));
            if (scaling with { Factor = 8.0 } != RopeScaling.Llama31)
                throw new UnsupportedCheckpointException(path, $"rope_scaling {scaling} differs from Meta's use_scaled_rope (low 1, high 4, original 8192) in more than the factor");
        }
        double theta = Num("rope_theta", 10000.0);
        long vocab = Int("vocab_size");
        string v = version ?? MetaVersions.Infer(scaling is not null, theta, vocab);
        return new MetaModel
        {
            Dim = dim, Layers = Int("num_hidden_layers"), Heads = heads, KvHeads = kv, FfnDim = Int("intermediate_size"), Vocab = vocab,
            NormEps = Num("rms_norm_eps", 1e-5), RopeTheta = theta, RopeScaling = scaling, Version = v, EmbeddingSplitDim = MetaModel.EmbeddingSplitFor(v),
        };
    }
}
