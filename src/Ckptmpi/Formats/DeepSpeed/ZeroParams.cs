using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Formats.DeepSpeed;

/// <summary>The <see cref="ParamSpec"/> list for a HuggingFace source: its tensors in module order, tied embeddings as an alias.</summary>
public static class ZeroParams
{
    /// <summary>HF name of the input embedding and of the output head a tied model shares it with.</summary>
    public const string EmbedTokens = "model.embed_tokens.weight", LmHead = "lm_head.weight";

    /// <summary>
    /// Every tensor of <paramref name="hf"/> as a trainable param, in module registration order
    /// (<see cref="HfModuleOrder"/>). With <paramref name="tieWordEmbeddings"/> (config.json
    /// <c>tie_word_embeddings</c>), <c>lm_head.weight</c> becomes an alias of <c>model.embed_tokens.weight</c> (DeepSpeed
    /// saves it in <c>module</c> and <c>shared_params</c>, not in the optimizer partitions), whether or not the source
    /// holds a copy of it.
    /// </summary>
    /// <exception cref="ArgumentException">Tied embeddings requested but the source has no <c>model.embed_tokens.weight</c>.</exception>
    public static IReadOnlyList<ParamSpec> FromCatalog(SourceCatalog hf, bool tieWordEmbeddings = false)
    {
        var names = hf.Tensors.Select(t => t.Name).ToList();
        if (tieWordEmbeddings)
        {
            if (!hf.Contains(EmbedTokens)) throw new ArgumentException($"tie_word_embeddings is set but the source has no '{EmbedTokens}'");
            if (!hf.Contains(LmHead)) names.Add(LmHead);
        }
        var specs = new List<ParamSpec>(names.Count);
        foreach (string n in HfModuleOrder.Sort(names))
        {
            SourceTensor t = hf.Contains(n) ? hf[n] : hf[EmbedTokens];
            specs.Add(tieWordEmbeddings && n == LmHead
                ? new ParamSpec(n, hf[EmbedTokens].Shape, hf[EmbedTokens].DType) { TiedTo = EmbedTokens }
                : new ParamSpec(n, t.Shape, t.DType));
        }
        return specs;
    }
}
