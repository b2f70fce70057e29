namespace Ckptmpi.Formats.Meta;

/// <summary>The options of Meta's original format (<c>--mp-size</c>, <c>--meta-kv-heads</c>, <c>--meta-version</c>).</summary>
public sealed record MetaOptions : FormatOptions
{
    public override string Format => MetaFormat.FormatName;

    /// <summary>Writing: the number of <c>consolidated.NN.pth</c> shards (Meta's model-parallel size).</summary>
    public int MpSize { get; init; } = 1;

    /// <summary>
    /// Reading: the architecture's KV heads when params.json counts duplicated ones (405B bf16-mp16: 8); null: found
    /// by comparing the heads of the first layer. Equal to params.json's count: read every declared head as its own.
    /// </summary>
    public int? KvHeads { get; init; }

    /// <summary>The Llama line (2, 3, 3.1); null: inferred from the rope settings and vocabulary.</summary>
    public string? Version { get; init; }
}
