namespace Ckptmpi.Formats.NxD;

/// <summary>How the NxDT model names and groups its attention and MLP weights (<c>--model-style</c>).</summary>
public enum NxdModelStyle
{
    /// <summary>NxDT's HuggingFace-style Llama (<c>model.layers.N.self_attn...</c>).</summary>
    Hf,

    /// <summary>NxDT's NeMo-derived Megatron model (<c>language_model.encoder.layers.N.self_attention...</c>).</summary>
    Megatron,
}

/// <summary>The Trainium generation the checkpoint is for (<c>--hw-backend</c>): it decides how KV replicas pair with query heads.</summary>
public enum NxdHardware
{
    Trn1,
    Trn2,
}

/// <summary>The options of the NxDT format, spelled as NxDT's checkpoint_converter.py spells them (with dashes).</summary>
public sealed record NxdOptions : FormatOptions
{
    public override string Format => NxdFormat.FormatName;

    public NxdModelStyle ModelStyle { get; init; } = NxdModelStyle.Hf;

    /// <summary>Null only in <see cref="NxdFormat.Defaults"/>: a conversion names it, as NxDT requires.</summary>
    public NxdHardware? Hardware { get; init; }

    /// <summary>Tensor-parallel degree; null when reading: taken from the file names.</summary>
    public int? TpSize { get; init; }

    /// <summary>Pipeline-parallel degree; null when reading: taken from the file names.</summary>
    public int? PpSize { get; init; }

    /// <summary>When given, must equal config.json's num_hidden_layers.</summary>
    public int? NLayers { get; init; }

    public int KvSizeMultiplier { get; init; } = 1;

    public bool QkvLinear { get; init; }

    public bool FuseQkv { get; init; }

    public bool CoalesceQkv { get; init; }

    /// <summary>Write (or read) torch_xla serialization: the direction says which. Reading accepts both forms.</summary>
    public bool Xser { get; init; }

    /// <summary>
    /// With <see cref="Xser"/>, write the by-reference form NxDT training saves (<c>--xser reference</c>) instead of the
    /// inline form the converter saves (<c>--xser</c>, <c>--xser inline</c>).
    /// </summary>
    public bool XserByReference { get; init; }

    /// <summary>The model's config.json; null: the one beside the input.</summary>
    public string? Config { get; init; }
}
