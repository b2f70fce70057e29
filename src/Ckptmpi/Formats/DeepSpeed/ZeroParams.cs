using Ckptmpi.Errors;
using Ckptmpi.Model;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Formats.DeepSpeed;

/// <summary>The <see cref="ParamSpec"/> list for a HuggingFace source: its tensors in module order, tied embeddings as an alias.</summary>
public static class ZeroParams
{
    /// <summary>HF name of the input embedding and of the output head a tied model shares it with.</summary>
    public const string EmbedTokens = "model.embed_tokens.weight", LmHead = "lm_head.weight";

    private const string RotaryInvFreqSuffix = ".rotary_emb.inv_freq";

    /// <summary>
    /// Every tensor of <paramref name="hf"/> as a trainable param, in module registration order
    /// (<see cref="HfModuleOrder"/>). With <paramref name="tieWordEmbeddings"/> (config.json
    /// <c>tie_word_embeddings</c>), <c>lm_head.weight</c> becomes an alias of <c>model.embed_tokens.weight</c> (DeepSpeed
    /// saves it in <c>module</c> and <c>shared_params</c>, not in the optimizer partitions), whether or not the source
    /// holds a copy of it. Rotary <c>inv_freq</c> buffers of old Llama checkpoints are left out (non-persistent).
    /// </summary>
    /// <exception cref="ArgumentException">Tied embeddings requested but the source has no <c>model.embed_tokens.weight</c>.</exception>
    public static IReadOnlyList<ParamSpec> FromCatalog(SourceCatalog hf, bool tieWordEmbeddings = false)
    {
        // Old HF Llama checkpoints store rotary inv_freq buffers; the model recomputes them and never saves them.
        var names = hf.Tensors.Select(t => t.Name).Where(n => !n.EndsWith(RotaryInvFreqSuffix, StringComparison.Ordinal)).ToList();
        if (tieWordEmbeddings)
        {
            if (!hf.Contains(EmbedTokens)) throw new CheckpointFormatException(hf.Root, null, $"config.json sets tie_word_embeddings but the source has no '{EmbedTokens}'");
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

    /// <summary>
    /// The params of a model described by its config.json: the family's canonical tensors in <c>named_parameters()</c>
    /// order (which fixes DeepSpeed's flat-buffer layout), dtypes from <paramref name="hf"/>, and <c>lm_head.weight</c> as an
    /// alias of the embedding when <c>tie_word_embeddings</c> is set. Every source tensor must be one of them (buffers
    /// such as rotary <c>inv_freq</c> excepted) and have the config's shape.
    /// </summary>
    /// <exception cref="CheckpointFormatException">A canonical tensor is missing, or the source holds an unknown tensor.</exception>
    /// <exception cref="ShapeMismatchException">A source tensor's shape contradicts config.json.</exception>
    public static IReadOnlyList<ParamSpec> FromModel(ModelConfig config, SourceCatalog hf)
    {
        var canonical = config.CanonicalTensors();
        var known = new HashSet<string>(canonical.Select(t => t.Name), StringComparer.Ordinal);
        string[] unknown = hf.Tensors.Select(t => t.Name).Where(n => !known.Contains(n) && !config.Family.IsBuffer(n)
            && !(config.TieWordEmbeddings && n == LmHead)).ToArray();
        if (unknown.Length > 0)
            throw new CheckpointFormatException(hf.Root, null, $"source tensors not in the {config.Family.Name} model of {config.Path}: {string.Join(", ", unknown.Take(5))}{(unknown.Length > 5 ? $" (+{unknown.Length - 5} more)" : "")}");
        var specs = new List<ParamSpec>(canonical.Count + 1);
        foreach (CanonicalTensor t in canonical)
        {
            if (!hf.Contains(t.Name)) throw new CheckpointFormatException(hf.Root, null, $"the model needs '{t.Name}' but the source does not have it", t.Name);
            SourceTensor s = hf[t.Name];
            if (!s.Shape.SequenceEqual(t.Shape)) throw new ShapeMismatchException(hf.Root, t.Name, t.Shape, s.Shape.ToArray(), $"config.json {config.Path} says otherwise");
            specs.Add(new ParamSpec(t.Name, t.Shape, s.DType));
        }
        if (config.TieWordEmbeddings)
        {
            ParamSpec embed = specs.Single(p => p.Name == EmbedTokens);
            specs.Add(new ParamSpec(LmHead, embed.Shape, embed.DType) { TiedTo = EmbedTokens });
        }
        return specs;
    }
}
