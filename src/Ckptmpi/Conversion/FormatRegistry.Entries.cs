using System.Text;
using Ckptmpi.Errors;
using Ckptmpi.Formats.DeepSpeed;
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
        Register(new Reader("zero", "DeepSpeed ZeRO 1/2/3 checkpoint (the folder with 'latest')", OpenZero));
        Register(new Writer("zero", "DeepSpeed ZeRO 1/2/3 step-0 checkpoint (tag folder, 'latest' last)", ZeroLayout));
    }

    private static JobInputs OpenZero(ConvertRequest request)
    {
        SourceCatalog catalog = ZeroCheckpoint.Open(request.Input, request.Tag, request.WithOptimizerStates);
        var side = new Dictionary<string, string>();
        var facts = catalog.Tensors.SelectMany(t => t.Pieces).Select(p => p.File).Distinct().Order(StringComparer.Ordinal)
            .Select(f => InputFileFact.Of(Path.Combine(catalog.Root, f))).ToList();
        string latest = Path.Combine(request.Input, DeepSpeedPaths.Latest);
        if (File.Exists(latest)) facts.Add(InputFileFact.Of(latest));
        // --config wins; else the config.json ckptmpi (or the user) left beside 'latest'.
        string config = request.Config ?? Path.Combine(request.Input, SafetensorsFormat.ConfigFileName);
        if (request.Config is not null && !File.Exists(config))
            throw new FileNotFoundException($"--config {config}: no such file", config);
        if (File.Exists(config))
        {
            Verify.ConfigShapeCheck.Check(catalog, config);
            side[SafetensorsFormat.ConfigFileName] = InputFiles.ReadText(config);
            facts.Add(InputFileFact.Of(config));
        }
        return new JobInputs(catalog, side, facts);
    }

    /// <summary>
    /// The ZeRO checkpoint of the source's parameters in module order, for --dp-size and --zero-stage (or the
    /// --ds-config's stage, precision and optimizer); config.json is copied beside 'latest' so the reverse
    /// conversion finds it.
    /// </summary>
    private static OutputLayout ZeroLayout(JobInputs inputs, ConvertRequest request)
    {
        if (request.DpSize is not int dp) throw new ArgumentException("--dp-size is required for --to zero (the training job's data-parallel size)");
        ZeroWriteOptions options = inputs.SideFiles.TryGetValue(DsConfigSideFile, out string? ds)
            ? ZeroWriteOptions.FromDsConfig(ds, dp, request.ZeroStage, request.DType, request.Tag)
            : new ZeroWriteOptions
            {
                Stage = request.ZeroStage ?? throw new ArgumentException("--zero-stage (or a --ds-config with zero_optimization.stage) is required for --to zero"),
                DpSize = dp,
                DType = request.DType ?? DType.BF16,
                Tag = request.Tag ?? DeepSpeedPaths.DefaultTag(0),
            };
        options = options with { Optimizer = request.Optimizer.ApplyTo(options.Optimizer) };
        return WithSideFile(ZeroCheckpointLayout.For(ZeroParamsOf(inputs), options), inputs, SafetensorsFormat.ConfigFileName);
    }

    /// <summary>
    /// The params DeepSpeed would see. With a config.json of a known family, its <c>named_parameters()</c> order, shapes
    /// checked against it and a tied <c>lm_head.weight</c> as an alias of the embedding (DeepSpeed saves the alias in
    /// <c>module</c> and <c>shared_params</c>; leaving it out breaks a strict <c>load_state_dict</c>). Otherwise module
    /// order from the names alone, tied only if config.json says so.
    /// </summary>
    private static IReadOnlyList<ParamSpec> ZeroParamsOf(JobInputs inputs)
    {
        SourceCatalog c = inputs.Catalog;
        if (!inputs.SideFiles.TryGetValue(SafetensorsFormat.ConfigFileName, out string? configText))
            return ZeroParams.FromCatalog(c);
        string configPath = Path.Combine(c.Root, SafetensorsFormat.ConfigFileName);
        ModelConfig config;
        try
        {
            config = ModelConfig.Parse(Encoding.UTF8.GetBytes(configText), configPath);
        }
        catch (UnsupportedCheckpointException)
        {
            // An architecture we have no family for: its tensors are still converted, in module order by name.
            using var json = System.Text.Json.JsonDocument.Parse(configText);
            bool tied = json.RootElement.TryGetProperty("tie_word_embeddings", out var t) && t.ValueKind == System.Text.Json.JsonValueKind.True;
            return ZeroParams.FromCatalog(c, tied);
        }
        return ZeroParams.FromModel(config, c);
    }

    /// <summary>The side-file name under which rank 0 passes the --ds-config text to the writer.</summary>
    internal const string DsConfigSideFile = "ds_config.json";

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
        if (checkpoint.ConfigPath is string configPath) Verify.ConfigShapeCheck.Check(catalog, configPath);
        var side = new Dictionary<string, string>();
        var facts = new List<InputFileFact>();
        foreach (var shard in checkpoint.Shards) facts.Add(InputFileFact.Of(Path.Combine(checkpoint.Root, shard.RelativePath)));
        string index = Path.Combine(checkpoint.Root, SafetensorsFormat.IndexFileName);
        if (checkpoint.Index is not null && File.Exists(index)) facts.Add(InputFileFact.Of(index));
        if (checkpoint.ConfigPath is string config)
        {
            side[SafetensorsFormat.ConfigFileName] = InputFiles.ReadText(config);
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
        var side = new Dictionary<string, string> { [SafetensorsFormat.ConfigFileName] = InputFiles.ReadText(configPath) };
        return new JobInputs(new SourceCatalog(root, tensors, new Dictionary<string, string> { ["format"] = "config-only" }), side, [InputFileFact.Of(configPath)]);
    }

    /// <summary>
    /// Safetensors shards in the catalog's tensor order, in --dtype (default: the source's, fp32 from ZeRO), config.json
    /// beside them. Optimizer moments (ZeRO reader with --with-optimizer-states) go to their own shards under
    /// <see cref="OptimizerStatesFolder"/>, in fp32, so the weights stay a plain HF checkpoint.
    /// </summary>
    private static OutputLayout HfLayout(JobInputs inputs, ConvertRequest request)
    {
        DType? dtype = request.DType ?? (request.From == "zero" ? DType.F32 : null);
        var metadata = new Dictionary<string, string> { ["format"] = "pt" };
        bool IsState(string name) => name.EndsWith(ZeroCheckpoint.ExpAvgSuffix, StringComparison.Ordinal)
            || name.EndsWith(ZeroCheckpoint.ExpAvgSqSuffix, StringComparison.Ordinal) || name.EndsWith(ZeroCheckpoint.StepSuffix, StringComparison.Ordinal);
        bool states = request.From == "zero" && request.WithOptimizerStates;
        var weights = inputs.Catalog.Tensors.Where(t => !states || !IsState(t.Name)).Select(t => (t.Name, dtype ?? t.DType, t.Shape.ToArray())).ToList();
        OutputLayout layout = SafetensorsLayout.For(weights, request.MaxShardSize, metadata);
        if (states)
        {
            var moments = inputs.Catalog.Tensors.Where(t => IsState(t.Name)).Select(t => (t.Name, t.DType, t.Shape.ToArray())).ToList();
            // Optimizers that keep the Adam step as a Python int (not a tensor) have one step for all params: it goes
            // into the shards' __metadata__ so the state is complete.
            var stateMetadata = new Dictionary<string, string>(metadata);
            if (inputs.Catalog.Attributes.TryGetValue("optimizer.step", out string? step)) stateMetadata["step"] = step;
            OutputLayout extra = SafetensorsLayout.For(moments, request.MaxShardSize, stateMetadata);
            layout = new OutputLayout([.. layout.Files, .. extra.Files.Select(f => f with { RelativePath = OptimizerStatesFolder + "/" + f.RelativePath })]);
        }
        return WithSideFile(layout, inputs, SafetensorsFormat.ConfigFileName);
    }

    /// <summary>Where <c>--with-optimizer-states</c> puts the full Adam moments (safetensors, names <c>param.exp_avg</c> ...).</summary>
    public const string OptimizerStatesFolder = "optimizer_states";

    /// <summary>Adds a side file rank 0 read (e.g. config.json) to the layout as a literal file, so it goes through the same commit path.</summary>
    private static OutputLayout WithSideFile(OutputLayout layout, JobInputs inputs, string name)
    {
        if (!inputs.SideFiles.TryGetValue(name, out string? text)) return layout;
        byte[] bytes = Encoding.UTF8.GetBytes(text);
        var file = new OutputFile(name, bytes.Length, [new LiteralSegment(0, bytes)], []);
        return new OutputLayout([.. layout.Files, file]);
    }
}
