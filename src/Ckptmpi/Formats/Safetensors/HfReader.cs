using Ckptmpi.Errors;
using Ckptmpi.Model;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Formats.Safetensors;

/// <summary>
/// Reads a HuggingFace checkpoint: safetensors (a file, a directory of shards with or without the index), legacy
/// <c>pytorch_model.bin</c> / shards + <c>pytorch_model.bin.index.json</c> when the directory has no safetensors, or,
/// for a dry run, a <c>config.json</c> alone. Shapes are checked against the config.json beside the weights.
/// </summary>
internal sealed class HfReader : IFormatReader
{
    public string Description => "HuggingFace safetensors (model.safetensors, shards + index) or legacy pytorch_model*.bin, or a config.json for --dry-run";

    public string? Probe(string path)
    {
        if (File.Exists(path))
        {
            if (path.EndsWith(SafetensorsFormat.FileExtension, StringComparison.Ordinal)) return "a safetensors file";
            if (Path.GetFileName(path) == SafetensorsFormat.IndexFileName) return "a HuggingFace safetensors index";
            // Open plans from any model config .json (e.g. llama-3.1-405b.json) in a dry run.
            return path.EndsWith(".json", StringComparison.OrdinalIgnoreCase) ? $"a model config {Path.GetFileName(path)} (shapes only, for --dry-run)" : null;
        }
        if (!Directory.Exists(path)) return null;
        int shards = Directory.EnumerateFiles(path, "*" + SafetensorsFormat.FileExtension).Count();
        if (shards > 0) return $"a HuggingFace safetensors checkpoint ({shards} file{(shards == 1 ? "" : "s")})";
        if (PytorchBinCheckpoint.IsPresent(path))
        {
            int bins = Directory.EnumerateFiles(path, "pytorch_model*.bin").Count();
            return $"a legacy HuggingFace PyTorch checkpoint ({bins} pytorch_model*.bin file{(bins == 1 ? "" : "s")})";
        }
        return null;
    }

    public SourceMetadata Open(ReadSettings settings, FormatOptions options)
    {
        string input = settings.Input;
        if (File.Exists(input) && input.EndsWith(".json", StringComparison.OrdinalIgnoreCase) && Path.GetFileName(input) != SafetensorsFormat.IndexFileName)
        {
            if (!settings.DryRun)
                throw new UnsupportedCheckpointException(input, "a config.json gives shapes, not weights: add --dry-run to plan from it, or point --input at the checkpoint");
            return ConfigOnly(input);
        }
        SourceCatalog catalog;
        var files = new List<string>();
        string? configPath;
        bool stateDictFile = PytorchBinCheckpoint.IsStateDictFile(input);
        if (stateDictFile || (Directory.Exists(input) && !Directory.EnumerateFiles(input, "*" + SafetensorsFormat.FileExtension).Any() && PytorchBinCheckpoint.IsPresent(input)))
        {
            catalog = stateDictFile ? PytorchBinCheckpoint.OpenFile(input) : PytorchBinCheckpoint.Open(input);
            files.AddRange(catalog.Tensors.SelectMany(t => t.Pieces).Select(p => p.File).Distinct().Order(StringComparer.Ordinal).Select(f => Path.Combine(catalog.Root, f)));
            string index = Path.Combine(catalog.Root, PytorchBinCheckpoint.IndexFileName);
            if (File.Exists(index)) files.Add(index);
            configPath = Path.Combine(catalog.Root, ModelConfigFile.FileName);
        }
        else
        {
            SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.Load(input);
            catalog = checkpoint.ToCatalog();
            files.AddRange(checkpoint.Shards.Select(s => Path.Combine(checkpoint.Root, s.RelativePath)));
            string index = Path.Combine(checkpoint.Root, SafetensorsFormat.IndexFileName);
            if (checkpoint.Index is not null && File.Exists(index)) files.Add(index);
            configPath = checkpoint.ConfigPath;
        }
        string? config = configPath is null ? null : ModelConfigFile.TryRead(configPath);
        if (config is not null)
        {
            // As transformers loads the model: names of a base-model save get the CausalLM prefix, and what it ignores
            // (buffers, a stored copy of the tied head) is left out, so every writer sees the model's parameters.
            catalog = BaseModelPrefix.Add(catalog, configPath!);
            ConfigShapeCheck.Check(catalog, configPath!);
            catalog = IgnoredTensors.Drop(catalog, configPath!);
            files.Add(configPath!);
        }
        return new SourceMetadata(catalog, new SourceFacts { Format = HfFormat.FormatName, ModelConfigJson = config }, files);
    }

    /// <summary>
    /// A catalog with the model's canonical tensors (from config.json, in its declared dtype, else bf16) in one virtual
    /// file that is never read: enough to plan and to print what a conversion would do.
    /// </summary>
    private static SourceMetadata ConfigOnly(string configPath)
    {
        ModelConfig config = ModelConfig.Load(configPath);
        DType dtype = config.DeclaredDType is string s && DTypes.TryParseUserName(s, out DType d) ? d : DType.BF16;
        var tensors = new List<SourceTensor>();
        long offset = 0;
        foreach (CanonicalTensor t in config.Family.CanonicalTensors(config))
        {
            tensors.Add(new SourceTensor(t.Name, dtype, t.Shape, [new SourcePiece(0, t.ElementCount, "(config-only)", offset, dtype)]));
            offset = checked(offset + t.ElementCount * dtype.SizeInBytes());
        }
        string root = Path.GetDirectoryName(Path.GetFullPath(configPath))!;
        var facts = new SourceFacts { Format = HfFormat.FormatName, ModelConfigJson = ModelConfigFile.TryRead(configPath) };
        return new SourceMetadata(new SourceCatalog(root, tensors), facts, [configPath]);
    }
}
