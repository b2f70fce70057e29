using System.Text;
using Ckptmpi.Errors;
using Ckptmpi.Model;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Formats.DeepSpeed;

/// <summary>
/// The <see cref="ParamSpec"/> list for a HuggingFace source, in the order <c>named_parameters()</c> yields them. DeepSpeed
/// cuts its flat ZeRO partitions in exactly that order, so any other order (a safetensors file lists tensors by name)
/// makes a checkpoint that loads without error and trains on scrambled weights. The order comes from the model family of
/// config.json, or from a <c>--param-order</c> file; without either the conversion is refused.
/// </summary>
public static class ZeroParams
{
    /// <summary>The line that prints a model's <c>named_parameters()</c> order, for messages (DIR: the model folder).</summary>
    public static string PrintOrderCommand(string dir) =>
        "python -c \"import transformers as t; m=t.AutoModelForCausalLM.from_config(t.AutoConfig.from_pretrained('" + dir
        + "')); print('\\n'.join(n for n,_ in m.named_parameters()))\"";

    /// <summary>
    /// The params of <paramref name="hf"/>: from <paramref name="paramOrder"/> (the text of a <c>--param-order</c> file) when
    /// given, else from the family of <paramref name="configText"/> (config.json).
    /// </summary>
    /// <exception cref="UnsupportedCheckpointException">No config.json or an unknown family, and no --param-order.</exception>
    /// <exception cref="CheckpointFormatException">The source's tensors and the model's parameters differ.</exception>
    public static IReadOnlyList<ParamSpec> For(SourceCatalog hf, string? configText, string configPath, string? paramOrder, string paramOrderPath)
    {
        ModelConfig? config = null;
        string? unknown = null;
        if (configText is null) unknown = $"there is no config.json beside the weights ({configPath})";
        else
        {
            try { config = ModelConfig.Parse(Encoding.UTF8.GetBytes(configText), configPath); }
            catch (UnsupportedCheckpointException e) { unknown = e.Message; }
        }
        if (paramOrder is not null) return FromOrder(ParseOrder(paramOrder, paramOrderPath), hf, config, paramOrderPath);
        if (config is not null) return FromModel(config, hf);
        throw new UnsupportedCheckpointException(hf.Root,
            $"{unknown}. A ZeRO checkpoint lays parameters out in the model's named_parameters() order, and without the model family "
            + $"that order is unknown: converting in any other order would load without error and train on scrambled weights. "
            + $"Known families: {string.Join(", ", ModelFamilies.Names)}. To go on, give the config.json of a known family (beside the weights, or with "
            + $"--config where the source format takes one), or pass --param-order FILE with the parameter names in "
            + $"named_parameters() order, one per line; print them with: {PrintOrderCommand(hf.Root)}");
    }

    /// <summary>
    /// The params of a model described by its config.json: the family's canonical tensors in <c>named_parameters()</c>
    /// order, dtypes from <paramref name="hf"/>, and the tied head as an alias of the embedding when
    /// <c>tie_word_embeddings</c> is set (DeepSpeed saves the alias in <c>module</c> and <c>shared_params</c>, not in the
    /// optimizer partitions). Every source tensor must be one of them (the HF reader has already left out what transformers
    /// ignores on load: buffers, a verified copy of the tied head) and have the config's shape.
    /// </summary>
    /// <exception cref="CheckpointFormatException">A canonical tensor is missing, or the source holds an unknown tensor.</exception>
    /// <exception cref="ShapeMismatchException">A source tensor's shape contradicts config.json.</exception>
    public static IReadOnlyList<ParamSpec> FromModel(ModelConfig config, SourceCatalog hf)
    {
        var canonical = config.CanonicalTensors();
        var known = new HashSet<string>(canonical.Select(t => t.Name), StringComparer.Ordinal);
        TiedWeights? tied = config.Tied;
        string[] unknown = hf.Tensors.Select(t => t.Name).Where(n => !known.Contains(n) && n != tied?.Head).ToArray();
        if (unknown.Length > 0)
            throw new CheckpointFormatException(hf.Root, null, $"source tensors not in the {config.Family.Name} model of {config.Path}: {List(unknown)}");
        var specs = new List<ParamSpec>(canonical.Count + 1);
        foreach (CanonicalTensor t in canonical)
        {
            if (!hf.Contains(t.Name)) throw new CheckpointFormatException(hf.Root, null, $"the {config.Family.Name} model of {config.Path} needs '{t.Name}' but the source does not have it", t.Name);
            SourceTensor s = hf[t.Name];
            if (!s.Shape.SequenceEqual(t.Shape)) throw new ShapeMismatchException(hf.Root, t.Name, t.Shape, s.Shape.ToArray(), $"config.json {config.Path} says otherwise");
            specs.Add(new ParamSpec(t.Name, t.Shape, s.DType));
        }
        if (tied is not null) AddAlias(specs, tied);
        return specs;
    }

    /// <summary>
    /// The params in the order of a <c>--param-order</c> list. The list and the source must hold the same names; a tied head
    /// of a known family becomes the embedding's alias.
    /// </summary>
    /// <exception cref="CheckpointFormatException">A listed name is missing from the source, or a source tensor is not listed.</exception>
    public static IReadOnlyList<ParamSpec> FromOrder(IReadOnlyList<string> order, SourceCatalog hf, ModelConfig? config, string orderPath)
    {
        var listed = new HashSet<string>(order, StringComparer.Ordinal);
        TiedWeights? tied = config?.Tied is TiedWeights t && !listed.Contains(t.Head) && listed.Contains(t.Embedding) ? t : null;
        string[] missing = order.Where(n => !hf.Contains(n)).ToArray();
        if (missing.Length > 0)
            throw new CheckpointFormatException(orderPath, null, $"--param-order names parameters the source ({hf.Root}) does not have: {List(missing)}");
        string[] extra = hf.Tensors.Select(x => x.Name).Where(n => !listed.Contains(n) && n != tied?.Head).ToArray();
        if (extra.Length > 0)
            throw new CheckpointFormatException(orderPath, null, $"source tensors missing from --param-order (every parameter must be listed, in named_parameters() order): {List(extra)}");
        var specs = order.Select(n => new ParamSpec(n, hf[n].Shape, hf[n].DType)).ToList();
        if (tied is not null) AddAlias(specs, tied);
        return specs;
    }

    /// <summary>The names of a <c>--param-order</c> file: one per line; blank lines and lines starting with '#' are skipped.</summary>
    /// <exception cref="CheckpointFormatException">A name is listed twice, or the file lists none.</exception>
    public static IReadOnlyList<string> ParseOrder(string text, string path)
    {
        var names = text.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();
        if (names.Count == 0) throw new CheckpointFormatException(path, null, "--param-order lists no parameter names");
        string[] twice = names.GroupBy(n => n, StringComparer.Ordinal).Where(g => g.Count() > 1).Select(g => g.Key).ToArray();
        if (twice.Length > 0) throw new CheckpointFormatException(path, null, $"--param-order lists names more than once: {List(twice)}");
        return names;
    }

    private static void AddAlias(List<ParamSpec> specs, TiedWeights tied)
    {
        ParamSpec embed = specs.Single(p => p.Name == tied.Embedding);
        specs.Add(new ParamSpec(tied.Head, embed.Shape, embed.DType) { TiedTo = tied.Embedding });
    }

    private static string List(string[] names) => string.Join(", ", names.Take(5)) + (names.Length > 5 ? $" (+{names.Length - 5} more)" : "");
}
