using System.Text;
using Ckptmpi.Errors;
using Ckptmpi.Formats.Safetensors;
using Ckptmpi.Model;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Conversion;

public static partial class FormatRegistry
{
    /// <summary>One line per format direction.</summary>
    private static void RegisterAll()
    {
        Register(new Reader("hf", "HuggingFace safetensors (model.safetensors, shards + index), or a config.json for --dry-run", OpenHf));
        Register(new Writer("hf", "HuggingFace safetensors shards + model.safetensors.index.json (last) + config.json", HfLayout));
    }

    private static JobInputs OpenHf(ConvertRequest request)
    {
        if (File.Exists(request.Input) && request.Input.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
        {
            if (!request.DryRun)
                throw new UnsupportedCheckpointException(request.Input, "a config.json gives shapes, not weights: add --dry-run to plan from it, or point --input at the checkpoint");
            return ConfigOnly(request.Input);
        }
        SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.Load(request.Input);
        SourceCatalog catalog = checkpoint.ToCatalog();
        var side = new Dictionary<string, string>();
        var facts = new List<InputFileFact>();
        foreach (var shard in checkpoint.Shards) facts.Add(InputFileFact.Of(Path.Combine(checkpoint.Root, shard.RelativePath)));
        string index = Path.Combine(checkpoint.Root, SafetensorsFormat.IndexFileName);
        if (checkpoint.Index is not null && File.Exists(index)) facts.Add(InputFileFact.Of(index));
        if (checkpoint.ConfigPath is string config)
        {
            side[SafetensorsFormat.ConfigFileName] = File.ReadAllText(config, Encoding.UTF8);
            facts.Add(InputFileFact.Of(config));
        }
        return new JobInputs(catalog, side, facts);
    }

    /// <summary>
    /// A catalog with the model's canonical tensors (from config.json, bf16) in one virtual file that is never read:
    /// enough to plan and to print what a conversion would do.
    /// </summary>
    private static JobInputs ConfigOnly(string configPath)
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
        var side = new Dictionary<string, string> { [SafetensorsFormat.ConfigFileName] = File.ReadAllText(configPath, Encoding.UTF8) };
        return new JobInputs(new SourceCatalog(root, tensors, new Dictionary<string, string> { ["format"] = "config-only" }), side, [InputFileFact.Of(configPath)]);
    }

    /// <summary>Safetensors shards in the catalog's tensor order, in --dtype (default: the source's, fp32 from ZeRO), config.json beside them.</summary>
    private static OutputLayout HfLayout(JobInputs inputs, ConvertRequest request)
    {
        DType? dtype = request.DType ?? (request.From == "zero" ? DType.F32 : null);
        var tensors = inputs.Catalog.Tensors.Select(t => (t.Name, dtype ?? t.DType, t.Shape.ToArray())).ToList();
        OutputLayout layout = SafetensorsLayout.For(tensors, request.MaxShardSize, new Dictionary<string, string> { ["format"] = "pt" });
        return WithSideFile(layout, inputs, SafetensorsFormat.ConfigFileName);
    }

    /// <summary>Adds a side file rank 0 read (e.g. config.json) to the layout as a literal file, so it goes through the same commit path.</summary>
    private static OutputLayout WithSideFile(OutputLayout layout, JobInputs inputs, string name)
    {
        if (!inputs.SideFiles.TryGetValue(name, out string? text)) return layout;
        byte[] bytes = Encoding.UTF8.GetBytes(text);
        var file = new OutputFile(name, bytes.Length, [new LiteralSegment(0, bytes)], []);
        return new OutputLayout([.. layout.Files, file]);
    }
}
