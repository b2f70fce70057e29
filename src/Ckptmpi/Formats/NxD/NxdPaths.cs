using System.Globalization;

namespace Ckptmpi.Formats.NxD;

/// <summary>File names and the megatron key renames of NxDT checkpoints.</summary>
public static class NxdPaths
{
    /// <summary>The folder the rank files live in, under the checkpoint (the converter's <c>--output_dir</c>).</summary>
    public const string ModelFolder = "model";

    /// <summary><c>model/dp_rank_00_tp_rank_TT_pp_rank_PP.pt</c>: the converter writes data-parallel rank 0 only.</summary>
    public static string RankFile(int tp, int pp) => $"{ModelFolder}/dp_rank_00_tp_rank_{tp.ToString("00", CultureInfo.InvariantCulture)}_pp_rank_{pp.ToString("00", CultureInfo.InvariantCulture)}.pt";

    /// <summary>Parses a rank file name; false for anything else.</summary>
    public static bool TryParseRankFile(string fileName, out int dp, out int tp, out int pp)
    {
        dp = tp = pp = -1;
        var m = System.Text.RegularExpressions.Regex.Match(fileName, @"^dp_rank_(\d+)_tp_rank_(\d+)_pp_rank_(\d+)\.pt$");
        if (!m.Success) return false;
        dp = int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
        tp = int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture);
        pp = int.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture);
        return true;
    }

    /// <summary>
    /// NxD's rename of an HF-style key to the megatron model's (substring replacements in the converter's order; the
    /// embedding and final norm are whole-key renames).
    /// </summary>
    public static string MegatronName(string hf)
    {
        if (hf == "model.embed_tokens.weight") return "language_model.embedding.word_embeddings.weight";
        if (hf == "model.norm.weight") return "language_model.encoder.final_layernorm.weight";
        if (hf == "lm_head.weight") return "language_model.output_layer.weight";
        return hf.Replace("model.", "language_model.encoder.", StringComparison.Ordinal)
            .Replace("self_attn.", "self_attention.", StringComparison.Ordinal)
            .Replace("rotary_emb.inv_freq", "core_attention.rotary_emb.inv_freq", StringComparison.Ordinal)
            .Replace("o_proj.weight", "dense.weight", StringComparison.Ordinal)
            .Replace("gate_up_proj.weight", "dense_h_to_4h.weight", StringComparison.Ordinal)
            .Replace("down_proj.weight", "dense_4h_to_h.weight", StringComparison.Ordinal);
    }
}
