namespace Ckptmpi.Formats.MegaDs;

/// <summary>The parameters GPTModelPipe keeps per pipeline layer, with their local (one tensor rank's) shapes.</summary>
internal static class MegaDsLayout
{
    public const string WordEmbeddings = "word_embeddings.weight", LmHead = "lm_head.weight", FinalNorm = "weight";
    public const string InputNorm = "input_layernorm.weight", Qkv = "self_attention.query_key_value.weight", Dense = "self_attention.dense.weight";
    public const string PostNorm = "post_attention_layernorm.weight", H4h = "mlp.dense_h_to_4h.weight", FourHToH = "mlp.dense_4h_to_h.weight";

    /// <summary>The engine (DeepSpeed) name of the tied embedding, kept by the first and the last pipeline stage.</summary>
    public const string TiedEmbedding = "tied_modules.embed.word_embeddings.weight";

    /// <summary>The local names and shapes of layer <paramref name="layer"/>'s parameters, in the layer file's order.</summary>
    public static IReadOnlyList<(string Name, long[] Shape)> Params(MegaDsModel m, int layer)
    {
        long h = m.Hidden, tp = m.Tp;
        if (layer == m.EmbedLayer) return [(WordEmbeddings, [m.PaddedVocab / tp, h])];
        if (layer == m.NormLayer) return [(FinalNorm, [h])];
        if (!m.Tied && layer == m.HeadLayer) return [(LmHead, [m.PaddedVocab / tp, h])];
        if (layer >= m.TransformerLayer(0) && layer < m.TransformerLayer(m.Layers))
        {
            return
            [
                (InputNorm, [h]),
                (Qkv, [(long)(m.Heads + 2 * m.KvHeads) / tp * m.HeadDim, h]),
                (Dense, [h, (long)m.Heads * m.HeadDim / tp]),
                (PostNorm, [h]),
                (H4h, [2 * m.Ffn / tp, h]),
                (FourHToH, [h, m.Ffn / tp]),
            ];
        }
        throw new ArgumentOutOfRangeException(nameof(layer), $"GPTModelPipe of {m.Layers} layers has no parameter layer {layer}");
    }

    /// <summary>The layer index and local name of an engine parameter name (<c>2.self_attention.dense.weight</c>, the tied embedding).</summary>
    public static bool TryParseEngineName(string name, out int layer, out string local)
    {
        layer = -1;
        local = "";
        if (name == TiedEmbedding) { layer = 1; local = WordEmbeddings; return true; }
        int dot = name.IndexOf('.');
        if (dot <= 0 || !int.TryParse(name.AsSpan(0, dot), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out layer)) return false;
        local = name[(dot + 1)..];
        return true;
    }
}
