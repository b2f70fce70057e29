using Ckptmpi.Errors;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Formats.Safetensors;

/// <summary>
/// Safetensors shards in the catalog's tensor order, in --dtype (default: the source's preferred dtype, else each
/// tensor's own), config.json beside them. Optimizer state the reader exposed (a ZeRO source with
/// --with-optimizer-states) goes to its own shards under <see cref="OptimizerStatesFolder"/>, in its own dtype, so
/// the weights stay a plain HF checkpoint.
/// </summary>
internal sealed class HfWriter : IFormatWriter
{
    /// <summary>Where the optimizer state goes (safetensors, names <c>param.exp_avg</c> ...).</summary>
    public const string OptimizerStatesFolder = "optimizer_states";

    public string Description => "HuggingFace safetensors shards + model.safetensors.index.json (last) + config.json";

    public bool ConsumesEverything => true;

    public IReadOnlyList<string> InputFiles(FormatOptions options) => [];

    public TargetLayout Layout(WriteInput input, FormatOptions options)
    {
        var o = (HfOptions)options;
        // transformers cannot load a model folder without config.json: refuse rather than write one silently.
        if (input.Facts.ModelConfigJson is null)
            throw new UnsupportedCheckpointException(input.Catalog.Root,
                $"the source has no config.json, and a HuggingFace model folder without one cannot be loaded; pass the model's config.json "
                + "with --config PATH (e.g. the one of the model the training started from), or put it beside the source's weights");
        DType? dtype = input.DType ?? input.Facts.PreferredDType;
        var metadata = new Dictionary<string, string> { ["format"] = "pt" };
        var states = new HashSet<string>(input.Facts.Training?.StateTensors ?? [], StringComparer.Ordinal);
        var weights = input.Catalog.Tensors.Where(t => !states.Contains(t.Name)).Select(t => (t.Name, dtype ?? t.DType, t.Shape.ToArray())).ToList();
        OutputLayout layout = SafetensorsLayout.For(weights, o.MaxShardSize, metadata);
        if (states.Count > 0)
        {
            var moments = input.Catalog.Tensors.Where(t => states.Contains(t.Name)).Select(t => (t.Name, t.DType, t.Shape.ToArray())).ToList();
            // Optimizers that keep the step as one Python number (not a tensor per param) have one step for all
            // params: it goes into the shards' __metadata__ so the state is complete.
            var stateMetadata = new Dictionary<string, string>(metadata);
            if (input.Facts.Training?.Step is string step) stateMetadata["step"] = step;
            OutputLayout extra = SafetensorsLayout.For(moments, o.MaxShardSize, stateMetadata);
            layout = new OutputLayout([.. layout.Files, .. extra.Files.Select(f => f with { RelativePath = OptimizerStatesFolder + "/" + f.RelativePath })]);
        }
        return new TargetLayout(ModelConfigFile.AppendTo(layout, input.Facts));
    }
}
