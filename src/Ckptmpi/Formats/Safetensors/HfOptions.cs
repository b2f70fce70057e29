namespace Ckptmpi.Formats.Safetensors;

/// <summary>The options of the HuggingFace format (<c>--max-shard-size</c>).</summary>
public sealed record HfOptions : FormatOptions
{
    public override string Format => HfFormat.FormatName;

    /// <summary>Largest shard the writer makes, in tensor bytes (HF's own default: 5 GB).</summary>
    public long MaxShardSize { get; init; } = 5_000_000_000;
}
