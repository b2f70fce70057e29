using System.CommandLine;
using Ckptmpi.Errors;
using Ckptmpi.Tensors;

namespace Ckptmpi.Formats.Safetensors;

/// <summary>HuggingFace checkpoints: safetensors (single file, or shards + index) and, for reading, legacy <c>pytorch_model*.bin</c>.</summary>
public sealed class HfFormat : ICheckpointFormat
{
    public const string FormatName = "hf";

    private readonly Option<string> _maxShard = new("--max-shard-size") { Description = "Largest safetensors shard (tensor bytes).", DefaultValueFactory = _ => "5GB" };

    public string Name => FormatName;

    public IFormatReader Reader { get; } = new HfReader();

    public IFormatWriter Writer { get; } = new HfWriter();

    public IReadOnlyList<Option> Options => [_maxShard];

    public FormatOptions Bind(ParseResult parse, FormatRole role)
    {
        string text = parse.GetValue(_maxShard)!;
        long shard;
        try { shard = ByteSize.Parse(text); }
        catch (FormatException e) { throw new FormatOptionException(_maxShard.Name, $"{_maxShard.Name}: {e.Message}"); }
        if (shard < 1) throw new FormatOptionException(_maxShard.Name, $"{_maxShard.Name} must be positive");
        return new HfOptions { MaxShardSize = shard };
    }

    public FormatOptions Defaults(string? version = null) => new HfOptions();
}
