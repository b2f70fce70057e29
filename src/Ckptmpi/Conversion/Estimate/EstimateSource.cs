using Ckptmpi.Errors;
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
    /// <paramref name="path"/> is a config.json file, or a HuggingFace directory: its safetensors headers when it has
    /// any <c>*.safetensors</c> file, else its config.json.
    /// </summary>
    /// <exception cref="FileNotFoundException">Nothing usable at <paramref name="path"/>.</exception>
    /// <exception cref="CheckpointFormatException">A malformed config.json or safetensors header.</exception>
    /// <exception cref="UnsupportedCheckpointException">config.json names an architecture no family supports.</exception>
    public static EstimateSource Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (File.Exists(path)) return FromConfig(ModelConfig.Load(path));
        if (!Directory.Exists(path))
            throw new FileNotFoundException($"{path}: no such file or directory (expected a HuggingFace model directory or its config.json)", path);
        if (File.Exists(System.IO.Path.Combine(path, "config.json"))) return FromConfig(ModelConfig.Load(path));
        throw new FileNotFoundException($"{path}: the directory has neither *.safetensors files nor a config.json", path);
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
        if (config is not null) parameters = parameters.Where(t => !config.Family.IsBuffer(t.Name));
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
