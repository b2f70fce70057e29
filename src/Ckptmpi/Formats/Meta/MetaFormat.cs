using System.CommandLine;
using Ckptmpi.Errors;

namespace Ckptmpi.Formats.Meta;

/// <summary>Meta's original Llama checkpoints: <c>consolidated.NN.pth</c> model-parallel shards and <c>params.json</c>.</summary>
public sealed class MetaFormat : ICheckpointFormat
{
    public const string FormatName = "meta";

    /// <summary>More shards than any Meta model has heads: a typo, not a plan.</summary>
    public const int MaxMpSize = 4096;

    private readonly Option<int?> _mpSize = new("--mp-size") { Description = "--to meta: number of consolidated.NN.pth shards (Meta's model-parallel size; default 1). Above the KV heads, each KV head is stored in place in every shard that needs it, as in Llama 3.1 405B bf16-mp16." };
    private readonly Option<int?> _kvHeads = new("--meta-kv-heads") { Description = "--from meta: the model's real KV heads when params.json counts duplicated ones (default: found by comparing the first layer's heads; every copy is checked equal)." };
    private readonly Option<string?> _version = CreateVersionOption();

    public string Name => FormatName;

    public IFormatReader Reader { get; } = new MetaReader();

    public IFormatWriter Writer { get; } = new MetaWriter();

    public IReadOnlyList<Option> Options => [_mpSize, _kvHeads, _version];

    public FormatOptions Bind(ParseResult parse, FormatRole role)
    {
        int? mp = parse.GetValue(_mpSize), kv = parse.GetValue(_kvHeads);
        if (mp is < 1 or > MaxMpSize) throw new FormatOptionException(_mpSize.Name, $"--mp-size must be between 1 and {MaxMpSize}, got {mp}");
        if (kv is < 1) throw new FormatOptionException(_kvHeads.Name, $"--meta-kv-heads must be positive, got {kv}");
        if (mp is not null && !role.HasFlag(FormatRole.Write) && role != FormatRole.None)
            throw new FormatOptionException(_mpSize.Name, "--mp-size applies to --to meta (a Meta source's MP is the number of its shards)");
        return new MetaOptions { MpSize = mp ?? 1, KvHeads = kv, Version = parse.GetValue(_version) };
    }

    public FormatOptions Defaults(string? version = null) => new MetaOptions();

    private static Option<string?> CreateVersionOption()
    {
        var o = new Option<string?>("--meta-version") { Description = "Llama line of a Meta checkpoint: 2 (embedding split on dim 1; HF context 4096), 3 or 3.1 (split on dim 0). Default: from the rope settings and vocabulary." };
        o.AcceptOnlyFromAmong(MetaVersions.Known);
        return o;
    }
}
