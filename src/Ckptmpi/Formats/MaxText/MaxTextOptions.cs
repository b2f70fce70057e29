namespace Ckptmpi.Formats.MaxText;

/// <summary>The options of the MaxText writer (<c>--maxtext-model</c>, <c>--scan-layers</c>, <c>--quantize</c>, <c>--maxtext-chunk-size</c>).</summary>
public sealed record MaxTextOptions : FormatOptions
{
    public override string Format => MaxTextFormat.FormatName;

    /// <summary>MaxText's <c>model_size</c> (e.g. <c>llama3.1-405b</c>); null: a family guessed from config.json.</summary>
    public string? Model { get; init; }

    /// <summary>Decoder layers stacked on axis 1 (MaxText's <c>scan_layers</c>); null: true, false when quantizing.</summary>
    public bool? ScanLayers { get; init; }

    /// <summary>Write MaxText's AQT int8 weights and per-channel scales instead of bf16 kernels.</summary>
    public bool Int8 { get; init; }

    /// <summary>The largest zarr chunk file, in bytes of the array's elements (fp32 for a quantized kernel: the buffer it is computed in).</summary>
    public long ChunkBytes { get; init; } = MaxTextFormat.DefaultChunkBytes;

    /// <summary>Whether the layers are scanned once the defaults are applied.</summary>
    public bool Scanned => ScanLayers ?? !Int8;
}
