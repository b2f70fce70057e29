using Ckptmpi.Errors;
using Ckptmpi.Formats.Safetensors;
using Ckptmpi.Model;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Conversion.Estimate;

/// <summary>Where the parameter names and shapes of an estimate came from.</summary>
public enum EstimateSourceKind
{
    /// <summary>Derived from config.json through the model family (no weights needed).</summary>
    ConfigJson,

    /// <summary>Read from the safetensors headers of a HuggingFace directory (no tensor data read).</summary>
    SafetensorsHeaders,
}

/// <summary>
/// The parameters of one model as (name, element count) pairs, from a HuggingFace directory or a config.json,
/// without reading any tensor data.
/// </summary>
public sealed record EstimateSource(string Path, EstimateSourceKind Kind, string? Architecture, IReadOnlyList<(string Name, long Elements)> Tensors)
{
    /// <summary>
    /// <paramref name="path"/> is a HuggingFace directory, read through its safetensors headers when it has any
    /// (<c>*.safetensors</c> or <c>model.safetensors.index.json</c>), else through its config.json; or a single
    /// <c>.safetensors</c> file or index; or a config.json file.
    /// </summary>
    /// <exception cref="FileNotFoundException">Nothing usable at <paramref name="path"/>.</exception>
    /// <exception cref="CheckpointFormatException">A malformed config.json, safetensors header or index.</exception>
    /// <exception cref="UnsupportedCheckpointException">Config-only input naming an architecture no family supports.</exception>
    public static EstimateSource Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (File.Exists(path))
        {
            string name = System.IO.Path.GetFileName(path);
            if (name.EndsWith(SafetensorsFormat.FileExtension, StringComparison.Ordinal)) return FromSafetensors(path, path);
            if (name == SafetensorsFormat.IndexFileName) return FromSafetensors(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!, path);
            return FromConfig(ModelConfig.Load(path));
        }
        if (!Directory.Exists(path))
            throw new FileNotFoundException($"{path}: no such file or directory (expected a HuggingFace model directory or its config.json)", path);
        if (File.Exists(System.IO.Path.Combine(path, SafetensorsFormat.IndexFileName))
            || Directory.EnumerateFiles(path, "*" + SafetensorsFormat.FileExtension).Any())
            return FromSafetensors(path, path);
        if (File.Exists(System.IO.Path.Combine(path, "config.json"))) return FromConfig(ModelConfig.Load(path));
        throw new FileNotFoundException($"{path}: the directory has neither *.safetensors files nor a config.json", path);
    }

    /// <summary>
    /// Parameters from safetensors headers (no tensor data read). config.json beside the weights, when present and of a
    /// supported family, names the architecture and filters buffers; an architecture we have no family for does not
    /// stop the count (DeepSpeed's estimate needs only names and sizes), it is just not named.
    /// </summary>
    private static EstimateSource FromSafetensors(string checkpoint, string displayPath)
    {
        SourceCatalog catalog = SafetensorsCheckpoint.Open(checkpoint);
        string configPath = System.IO.Path.Combine(catalog.Root, "config.json");
        ModelConfig? config = null;
        if (File.Exists(configPath))
        {
            try { config = ModelConfig.Load(configPath); }
            catch (UnsupportedCheckpointException) { config = null; }
        }
        return FromCatalog(catalog, config) with { Path = displayPath };
    }

    /// <summary>The parameters a config implies (the family's canonical tensors).</summary>
    public static EstimateSource FromConfig(ModelConfig config) =>
        new(config.Path, EstimateSourceKind.ConfigJson, config.Architecture ?? config.ModelType,
            config.CanonicalTensors().Select(t => (t.Name, t.ElementCount)).ToArray());

    /// <summary>
    /// The parameters of a checkpoint whose tensors a format reader listed (no data read). <paramref name="config"/>,
    /// when known, names the architecture and lets its family drop buffers that some checkpoints store
    /// (<see cref="IModelFamily.IsBuffer"/>); without it every stored tensor counts.
    /// </summary>
    public static EstimateSource FromCatalog(SourceCatalog catalog, ModelConfig? config, EstimateSourceKind kind = EstimateSourceKind.SafetensorsHeaders)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        IEnumerable<SourceTensor> parameters = catalog.Tensors;
        if (config is not null)
        {
            // Headers list tensors alphabetically; put them in named_parameters() order, as a live model (and so
            // DeepSpeed) walks them, so that ties for the largest layer name the same module as a config-only count.
            var order = config.CanonicalTensors().Select((t, i) => (t.Name, i)).ToDictionary(p => p.Name, p => p.i, StringComparer.Ordinal);
            parameters = parameters.Where(t => !config.Family.IsBuffer(t.Name))
                .OrderBy(t => order.TryGetValue(t.Name, out int i) ? i : int.MaxValue);
        }
        return new(catalog.Root, kind, config?.Architecture ?? config?.ModelType,
            parameters.Select(t => (t.Name, t.ElementCount)).ToArray());
    }

    public string KindDescription => Kind switch
    {
        EstimateSourceKind.ConfigJson => "shapes from config.json",
        EstimateSourceKind.SafetensorsHeaders => "shapes from safetensors headers",
        _ => Kind.ToString(),
    };
}
