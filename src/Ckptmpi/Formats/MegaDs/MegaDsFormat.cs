using System.CommandLine;
using Ckptmpi.Errors;
using Ckptmpi.Formats.DeepSpeed;

namespace Ckptmpi.Formats.MegaDs;

/// <summary>
/// Megatron-DeepSpeed (argonne-lcf) pipeline checkpoints of GPTModelPipe: layer files per pipeline layer and tensor
/// rank, model states and ZeRO optimizer partitions per model-parallel rank. Reading only for now.
/// </summary>
public sealed class MegaDsFormat : ICheckpointFormat
{
    public const string FormatName = "megads";

    private readonly Option<string?> _weightsFrom = CreateWeightsFrom();

    public string Name => FormatName;

    public IFormatReader Reader { get; } = new MegaDsReader();

    public IFormatWriter? Writer => null;

    public IReadOnlyList<Option> Options => [_weightsFrom];

    public FormatOptions Bind(ParseResult parse, FormatRole role)
    {
        // --tag, --config and --with-optimizer-states are the ZeRO format's options (names are unique across formats); they mean the same here.
        string? tag = parse.GetValue<string?>("--tag");
        if (tag is not null && !DeepSpeedPaths.IsValidTag(tag)) throw new FormatOptionException("--tag", $"--tag '{tag}' is not a valid folder name");
        MegaDsWeightSource from = parse.GetValue(_weightsFrom) switch
        {
            null or "auto" => MegaDsWeightSource.Auto,
            "optimizer" => MegaDsWeightSource.Optimizer,
            "module" => MegaDsWeightSource.Module,
            string s => throw new FormatOptionException(_weightsFrom.Name, $"--weights-from must be auto, optimizer or module, got '{s}'"),
        };
        return new MegaDsOptions { Tag = tag, WeightsFrom = from, Config = parse.GetValue<string?>("--config"),
            WithOptimizerStates = parse.GetValue<bool>("--with-optimizer-states"),
        };
    }

    public FormatOptions Defaults(string? version = null) => new MegaDsOptions { Tag = version };

    private static Option<string?> CreateWeightsFrom()
    {
        var o = new Option<string?>("--weights-from")
        {
            Description = "--from megads: 'optimizer' (the fp32 masters of the ZeRO partitions, as zero_to_fp32), 'module' (the bf16 layer files), or 'auto' (masters when present; the default).",
        };
        o.AcceptOnlyFromAmong("auto", "optimizer", "module");
        return o;
    }
}
