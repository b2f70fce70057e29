using System.Text;
using System.Text.Json;
using Ckptmpi.Errors;
using Ckptmpi.Model;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Formats.DeepSpeed;

/// <summary>
/// The ZeRO checkpoint of the source's parameters in module order, as DeepSpeed writes it at step 0, for --dp-size and
/// --zero-stage (or the --ds-config's stage, precision and optimizer); config.json goes beside 'latest' so the reverse
/// conversion finds it. The fp32 master weights come from the source's tensors; optimizer moments start empty.
/// </summary>
internal sealed class ZeroWriter : IFormatWriter
{
    public string Description => "DeepSpeed ZeRO 1/2/3 step-0 checkpoint (tag folder, 'latest' last)";

    public bool ConsumesEverything => true;

    public IReadOnlyList<string> InputFiles(FormatOptions options) => ((ZeroOptions)options).DsConfig is string ds ? [ds] : [];

    public TargetLayout Layout(WriteInput input, FormatOptions options)
    {
        var o = (ZeroOptions)options;
        TrainingState? training = input.Facts.Training;
        if (training is { StateTensors.Count: > 0 })
            throw new FormatOptionException("--with-optimizer-states", "a ZeRO target does not carry optimizer state yet: drop --with-optimizer-states (the fp32 master weights are carried; the moments start empty at step 0)");
        ZeroWriteOptions write = WriteOptions(input, o);
        var notes = new List<string>();
        if (training is not null)
            notes.Add($"not carried into the ZeRO target: {training.Description}; the output is a fresh step-0 checkpoint (tag {write.Tag}) whose "
                      + "optimizer starts with empty Adam moments at step 0 (the fp32 master weights are carried)");
        OutputLayout layout = ZeroCheckpointLayout.For(ParamsOf(input.Catalog, input.Facts), write);
        return new TargetLayout(ModelConfigFile.AppendTo(layout, input.Facts), notes);
    }

    /// <exception cref="FormatOptionException">a missing or invalid option.</exception>
    /// <exception cref="UnsupportedCheckpointException">the --ds-config asks for something this writer cannot do.</exception>
    private static ZeroWriteOptions WriteOptions(WriteInput input, ZeroOptions o)
    {
        if (o.DpSize is not int dp || dp < 1) throw new FormatOptionException("--dp-size", "--to zero needs --dp-size (the training job's data-parallel size), at least 1");
        if (o.ZeroStage is not (null or 1 or 2 or 3)) throw new FormatOptionException("--zero-stage", $"--zero-stage must be 1, 2 or 3, got {o.ZeroStage}");
        if (o.Tag is string t && !DeepSpeedPaths.IsValidTag(t)) throw new FormatOptionException("--tag", $"--tag '{t}' is not a valid folder name");
        if (input.DType is DType d && d is not (DType.BF16 or DType.F16 or DType.F32))
            throw new FormatOptionException("--dtype", $"a ZeRO target trains in bf16, fp16 or fp32, not {d.TorchName()}");
        ZeroWriteOptions write;
        if (o.DsConfig is string dsPath)
        {
            string text = input.Files.TryGetValue(dsPath, out string? ds) ? ds
                : throw new InvalidOperationException($"--ds-config {dsPath} was not read by rank 0");
            try
            {
                write = ZeroWriteOptions.FromDsConfig(text, dp, o.ZeroStage, input.DType, o.Tag);
                write.Validate();
            }
            catch (Exception e) when (e is ArgumentException or JsonException)
            {
                // The user's file asks for values this writer refuses: bad input, named by the file.
                throw new UnsupportedCheckpointException(dsPath, $"cannot write zero: {e.Message}", e);
            }
        }
        else
        {
            write = new ZeroWriteOptions
            {
                Stage = o.ZeroStage ?? throw new FormatOptionException("--zero-stage", "--to zero needs --zero-stage or a --ds-config that names zero_optimization.stage"),
                DpSize = dp,
                DType = input.DType ?? DType.BF16,
                Tag = o.Tag ?? DeepSpeedPaths.DefaultTag(0),
            };
        }
        return write with { Optimizer = o.Optimizer.ApplyTo(write.Optimizer) };
    }

    /// <summary>
    /// The params DeepSpeed would see. With a config.json of a known family, its <c>named_parameters()</c> order, shapes
    /// checked against it and a tied <c>lm_head.weight</c> as an alias of the embedding (DeepSpeed saves the alias in
    /// <c>module</c> and <c>shared_params</c>; leaving it out breaks a strict <c>load_state_dict</c>). Otherwise module
    /// order from the names alone, tied only if config.json says so.
    /// </summary>
    private static IReadOnlyList<ParamSpec> ParamsOf(SourceCatalog catalog, SourceFacts facts)
    {
        if (facts.ModelConfigJson is not string configText) return ZeroParams.FromCatalog(catalog);
        string configPath = Path.Combine(catalog.Root, ModelConfigFile.FileName);
        ModelConfig config;
        try
        {
            config = ModelConfig.Parse(Encoding.UTF8.GetBytes(configText), configPath);
        }
        catch (UnsupportedCheckpointException)
        {
            // An architecture we have no family for: its tensors are still converted, in module order by name.
            using var json = JsonDocument.Parse(configText);
            bool tied = json.RootElement.TryGetProperty("tie_word_embeddings", out var t) && t.ValueKind == JsonValueKind.True;
            return ZeroParams.FromCatalog(catalog, tied);
        }
        return ZeroParams.FromModel(config, catalog);
    }
}
