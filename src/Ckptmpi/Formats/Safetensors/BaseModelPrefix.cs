using Ckptmpi.Errors;
using Ckptmpi.Model;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Formats.Safetensors;

/// <summary>
/// Checkpoints saved from a family's base model (GPT-2's original release: <c>wte.weight</c>, <c>h.0.attn.c_attn.weight</c>)
/// lack the CausalLM class's prefix (<c>transformer.</c>). transformers adds it on load; so do we, so the names are the
/// model's <c>named_parameters()</c>.
/// </summary>
public static class BaseModelPrefix
{
    /// <summary>
    /// <paramref name="catalog"/> with the prefix added to every tensor that needs it, when no tensor has a full name;
    /// unchanged otherwise, and for a family we do not know.
    /// </summary>
    public static SourceCatalog Add(SourceCatalog catalog, string configPath)
    {
        ModelConfig config;
        try { config = ModelConfig.Load(configPath); }
        catch (UnsupportedCheckpointException) { return catalog; }
        var canonical = new HashSet<string>(config.CanonicalTensors().Select(t => t.Name), StringComparer.Ordinal);
        if (catalog.Tensors.Any(t => canonical.Contains(t.Name))) return catalog;
        string embedding = config.Family.Tied.Embedding;
        string prefix = embedding[..(embedding.IndexOf('.') + 1)];
        bool Prefixed(string name) => canonical.Contains(prefix + name) || config.Family.IsBuffer(prefix + name);
        if (!catalog.Tensors.Any(t => Prefixed(t.Name))) return catalog;
        Serilog.Log.Information("{Root}: tensor names lack the '{Prefix}' prefix (saved from the base model); read with it, as transformers loads them", catalog.Root, prefix);
        return new SourceCatalog(catalog.Root, catalog.Tensors.Select(t => Prefixed(t.Name) ? t with { Name = prefix + t.Name } : t).ToList());
    }
}
