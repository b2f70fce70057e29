using System.CommandLine;
using Ckptmpi.Errors;
using Ckptmpi.Formats.DeepSpeed;

namespace Ckptmpi.Formats.Universal;

/// <summary>
/// DeepSpeed's universal checkpoint of a Megatron-DeepSpeed GPTModelPipe run: one folder per parameter with its fp32
/// master and Adam moments merged over every parallel dimension, loadable into any TP/PP/DP.
/// </summary>
public sealed class UniversalFormat : ICheckpointFormat
{
    public const string FormatName = "universal";

    public string Name => FormatName;

    public IFormatReader Reader { get; } = new UniversalReader();

    public IFormatWriter Writer { get; } = new UniversalWriter();

    public IReadOnlyList<Option> Options => [];

    public FormatOptions Bind(ParseResult parse, FormatRole role)
    {
        // --tag and --with-optimizer-states are the ZeRO format's options (names are unique across formats); they mean the same here.
        string? tag = parse.GetValue<string?>("--tag");
        if (tag is not null && !DeepSpeedPaths.IsValidTag(tag)) throw new FormatOptionException("--tag", $"--tag '{tag}' is not a valid folder name");
        return new UniversalOptions { Tag = tag, WithOptimizerStates = parse.GetValue<bool>("--with-optimizer-states") };
    }

    public FormatOptions Defaults(string? version = null) => new UniversalOptions { Tag = version };
}
