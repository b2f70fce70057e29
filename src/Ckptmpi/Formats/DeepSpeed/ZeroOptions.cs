namespace Ckptmpi.Formats.DeepSpeed;

/// <summary>
/// The options of the DeepSpeed ZeRO format. Reading: <see cref="Tag"/>, <see cref="WithOptimizerStates"/>,
/// <see cref="Config"/>. Writing: <see cref="ZeroStage"/>, <see cref="DpSize"/>, <see cref="Tag"/>,
/// <see cref="DsConfig"/>, <see cref="Optimizer"/>, <see cref="ParamOrder"/>.
/// </summary>
public sealed record ZeroOptions : FormatOptions
{
    public override string Format => ZeroFormat.FormatName;

    /// <summary>ZeRO stage of the target (1, 2 or 3); null: the --ds-config's.</summary>
    public int? ZeroStage { get; init; }

    /// <summary>Data-parallel size of the training job the target is for (independent of the ranks converting).</summary>
    public int? DpSize { get; init; }

    /// <summary>Tag folder: the one to write (default global_step0), or to read (default: the one in 'latest').</summary>
    public string? Tag { get; init; }

    /// <summary>Path of a DeepSpeed config JSON (optimizer, precision, stage) for the target.</summary>
    public string? DsConfig { get; init; }

    /// <summary>Reading: also expose the Adam moments (and step) as tensors, for a target that carries them.</summary>
    public bool WithOptimizerStates { get; init; }

    /// <summary>Reading: a config.json to carry into the output instead of the one beside 'latest' (if any).</summary>
    public string? Config { get; init; }

    /// <summary>Writing: a file of parameter names in <c>named_parameters()</c> order, for a model family ckptmpi does not know.</summary>
    public string? ParamOrder { get; init; }

    /// <summary>Writing: the training job's settings from the command line, over --ds-config's (without one, all are required).</summary>
    public OptimizerOverrides Optimizer { get; init; } = new();
}
