using System.CommandLine;
using Ckptmpi.Errors;
using Ckptmpi.Tensors;

namespace Ckptmpi.Formats.MaxText;

/// <summary>MaxText parameter checkpoints (Orbax, zarr v2 without OCDBT) for <c>load_parameters_path</c>: a writer only.</summary>
public sealed class MaxTextFormat : ICheckpointFormat
{
    public const string FormatName = "maxtext";

    /// <summary>Chunk files of at most 32 MiB: a chunk and the source rows it transposes fit the default buffer together.</summary>
    public const long DefaultChunkBytes = 32L << 20;

    private readonly Option<string?> _model = new("--maxtext-model")
    {
        Description = "MaxText model_size of the target, e.g. llama3.1-8b: llama3.1*/llama3.3* keep q/k in interleaved rotary order, others half-split (default: guessed from config.json, printed).",
    };
    private readonly Option<bool?> _scan = new("--scan-layers") { Description = "MaxText target: stack the decoder layers on axis 1 (scan_layers; default true, false with --quantize)." };
    private readonly Option<string?> _quantize = CreateQuantizeOption();
    private readonly Option<string> _chunk = new("--maxtext-chunk-size") { Description = "MaxText target: largest zarr chunk file.", DefaultValueFactory = _ => "32MiB" };

    public string Name => FormatName;

    public IFormatReader? Reader => null;

    public IFormatWriter Writer { get; } = new MaxTextWriter();

    public IReadOnlyList<Option> Options => [_model, _scan, _quantize, _chunk];

    public FormatOptions Bind(ParseResult parse, FormatRole role)
    {
        string? model = parse.GetValue(_model);
        bool? scan = parse.GetValue(_scan);
        bool int8 = parse.GetValue(_quantize) is not null;
        if (model is not null && MaxTextModel.Problem(model) is string problem) throw new FormatOptionException(_model.Name, $"{_model.Name} '{model}': {problem}");
        if (int8 && scan == true)
            throw new FormatOptionException(_scan.Name, "--quantize int8 writes the unscanned tree MaxText quantizes (--scan-layers false), not stacked layers");
        long chunk;
        try { chunk = ByteSize.Parse(parse.GetValue(_chunk)!); }
        catch (FormatException e) { throw new FormatOptionException(_chunk.Name, $"{_chunk.Name}: {e.Message}"); }
        if (chunk < 1024) throw new FormatOptionException(_chunk.Name, $"{_chunk.Name} must be at least 1KiB");
        return new MaxTextOptions { Model = model, ScanLayers = scan, Int8 = int8, ChunkBytes = chunk };
    }

    public FormatOptions Defaults(string? version = null) => new MaxTextOptions();

    private static Option<string?> CreateQuantizeOption()
    {
        var o = new Option<string?>("--quantize") { Description = "MaxText target: int8 writes AQT int8 kernels and per-channel bf16 scales (MaxText quantization=int8)." };
        o.AcceptOnlyFromAmong("int8");
        return o;
    }
}
