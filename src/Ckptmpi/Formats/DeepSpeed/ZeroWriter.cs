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
/// conversion finds it. The fp32 master weights come from the source's tensors. From a trained source (a reshard) the
/// Adam moments, the step, the engine counters and the tag carry over; otherwise the moments start empty at step 0.
/// </summary>
internal sealed class ZeroWriter : IFormatWriter
{
    public string Description => "DeepSpeed ZeRO 1/2/3 checkpoint (tag folder, 'latest' last): step 0 from weights, or a reshard keeping the Adam state";

    public bool ConsumesEverything => true;

    public bool CarriesTrainingState => true;

    public IReadOnlyList<string> InputFiles(FormatOptions options)
    {
        var o = (ZeroOptions)options;
        return [.. new[] { o.DsConfig, o.ParamOrder }.OfType<string>()];
    }

    public TargetLayout Layout(WriteInput input, FormatOptions options)
    {
        var o = (ZeroOptions)options;
        TrainingState? training = input.Facts.Training;
        ZeroWriteOptions write = WriteOptions(input, o);
        IReadOnlyList<ParamSpec> specs = ParamsOf(input, o);
        var notes = new List<string>();
        if (training is { StateTensors.Count: > 0 })
        {
            // A reshard: the moments, the step, the counters and the tag carry over.
            var trainable = specs.Where(p => p.TiedTo is null && p.Trainable).ToList();
            write = write with { Resume = ZeroResumeState.From(training, trainable, write, input.Catalog), Tag = o.Tag ?? training.Tag ?? write.Tag };
            if (write.DType == DType.F16)
                notes.Add("the fp16 loss scaler restarts from its initial scale (the source's current scale is not carried)");
        }
        else if (training is not null)
        {
            notes.Add($"not carried into the ZeRO target: {training.Description} (the source holds no Adam state yet); the output is a fresh step-0 "
                      + $"checkpoint (tag {write.Tag}) whose optimizer starts with empty Adam moments (the fp32 master weights are carried)");
        }
        Serilog.Log.Information("ZeRO settings baked in (from {Source}): {Settings}{Resume}", o.DsConfig is string p ? $"--ds-config {p}" : "the command line", write.Describe(),
                                write.Resume is null ? "" : "; resharded with the source's Adam moments, step and counters");
        OutputLayout layout = ZeroCheckpointLayout.For(specs, write);
        return new TargetLayout(ModelConfigFile.AppendTo(layout, input.Facts), notes) { Redundant = write.Resume?.Redundant ?? [] };
    }

    /// <summary>
    /// The training job's settings the checkpoint bakes in. DeepSpeed restores <c>clip_grad</c>, the fp16 loss scaler and
    /// <c>param_groups</c> from the checkpoint over the training config, so they must be the job's: from its --ds-config
    /// (validated key by key), or, without one, every one of them on the command line; never a default of ours.
    /// </summary>
    /// <exception cref="FormatOptionException">a missing or invalid option, or an invalid --ds-config (naming the key).</exception>
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
                // The training job's own config, checked as the command line is: a usage error naming the key.
                throw new FormatOptionException("--ds-config", $"--ds-config {dsPath}: {e.Message}");
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
            if (o.Optimizer.MissingWithoutDsConfig(write.DType) is { Count: > 0 } missing)
                throw new FormatOptionException(missing[0],
                    "--to zero takes the training job's settings from its --ds-config; without one, give them all (a default would be baked into "
                    + $"the checkpoint and replace the training job's when it resumes): missing {string.Join(", ", missing)}");
        }
        if (write.DType != DType.F16 && o.Optimizer.SetsLossScale)
            throw new FormatOptionException("--loss-scale", $"the loss-scale options apply to fp16 training only, not {write.DType.TorchName()}");
        write = o.Optimizer.ApplyTo(write);
        return write;
    }

    /// <summary>
    /// The params DeepSpeed would see, in <c>named_parameters()</c> order: from a --param-order file, else from the
    /// family of config.json (<see cref="ZeroParams.For"/>); an unknown order is refused.
    /// </summary>
    private static IReadOnlyList<ParamSpec> ParamsOf(WriteInput input, ZeroOptions o)
    {
        string? order = o.ParamOrder is string path
            ? input.Files.TryGetValue(path, out string? text) ? text : throw new InvalidOperationException($"--param-order {path} was not read by rank 0")
            : null;
        // The params are the weights; optimizer state rides on them (ZeroResumeState) and is not a param of the model.
        SourceCatalog weights = input.Catalog;
        if (input.Facts.Training is { StateTensors.Count: > 0 } t)
        {
            var state = t.StateTensors.ToHashSet(StringComparer.Ordinal);
            weights = new SourceCatalog(weights.Root, weights.Tensors.Where(x => !state.Contains(x.Name)).ToList());
        }
        return ZeroParams.For(weights, input.Facts.ModelConfigJson, Path.Combine(input.Catalog.Root, ModelConfigFile.FileName), order, o.ParamOrder ?? "--param-order");
    }
}
