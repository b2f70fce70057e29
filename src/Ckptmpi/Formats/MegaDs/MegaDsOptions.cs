namespace Ckptmpi.Formats.MegaDs;

/// <summary>Where the weights of a Megatron-DeepSpeed checkpoint are read from.</summary>
public enum MegaDsWeightSource
{
    /// <summary>The fp32 master partitions of the ZeRO optimizer files when the checkpoint has them (as zero_to_fp32), else the layer files.</summary>
    Auto,

    /// <summary>The fp32 master partitions; an error when the checkpoint has no optimizer files.</summary>
    Optimizer,

    /// <summary>The training-dtype weights of the pipeline layer files.</summary>
    Module,
}

/// <summary>The options of the Megatron-DeepSpeed format (reading).</summary>
public sealed record MegaDsOptions : FormatOptions
{
    public override string Format => MegaDsFormat.FormatName;

    /// <summary>Tag folder to read (default: the one named by 'latest').</summary>
    public string? Tag { get; init; }

    public MegaDsWeightSource WeightsFrom { get; init; } = MegaDsWeightSource.Auto;

    /// <summary>Also expose the Adam moments (exp_avg, exp_avg_sq; and a torch Adam's step) merged as the weights are, under the HF names.</summary>
    public bool WithOptimizerStates { get; init; }

    /// <summary>A HuggingFace config.json that describes the model: carried into the output, and every shard is checked against it.</summary>
    public string? Config { get; init; }
}
