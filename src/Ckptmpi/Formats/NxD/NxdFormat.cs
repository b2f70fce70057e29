using System.CommandLine;
using Ckptmpi.Errors;

namespace Ckptmpi.Formats.NxD;

/// <summary>
/// NeuronX Distributed Training checkpoints, both directions, with the options of NxDT's checkpoint_converter.py
/// spelled with dashes (the underscore spellings are aliases). Booleans are real booleans: <c>--qkv-linear false</c>
/// means false, where NxDT's <c>type=bool</c> would read any non-empty word as true.
/// </summary>
public sealed class NxdFormat : ICheckpointFormat
{
    public const string FormatName = "nxdt";

    /// <summary>The largest tp or pp degree accepted: beyond any Trainium cluster, and it bounds the number of files planned.</summary>
    public const int MaxDegree = 4096;

    private readonly Option<string> _style = new("--model-style", "--model_style") { Description = "NxDT: hf (HF-style Llama) or megatron.", DefaultValueFactory = _ => "hf" };
    private readonly Option<string?> _hw = new("--hw-backend", "--hw_backend") { Description = "NxDT: trn1 or trn2 (required, as in NxDT; decides how KV replicas pair with query heads)." };
    private readonly Option<int?> _tp = new("--tp-size", "--tp_size") { Description = "NxDT: tensor-parallel degree (default 1 when writing; the files' when reading)." };
    private readonly Option<int?> _pp = new("--pp-size", "--pp_size") { Description = "NxDT: pipeline-parallel degree (default 1 when writing; the files' when reading)." };
    private readonly Option<int?> _layers = new("--n-layers", "--n_layers") { Description = "NxDT: number of layers, checked against config.json." };
    private readonly Option<int> _kv = new("--kv-size-multiplier", "--kv_size_multiplier") { Description = "NxDT: KV head replication (kv_replicator), with --qkv-linear.", DefaultValueFactory = _ => 1 };
    private readonly Option<bool> _qkvLinear = new("--qkv-linear", "--qkv_linear") { Description = "NxDT: GQA attention through GQAQKVColumnParallelLinear (qkv_proj.weight_q/k/v)." };
    private readonly Option<bool> _fuse = new("--fuse-qkv", "--fuse_qkv") { Description = "NxDT: with --qkv-linear, one qkv_proj.weight_qkv per rank." };
    private readonly Option<bool> _coalesce = new("--coalesce-qkv", "--coalesce_qkv") { Description = "NxDT: non-GQA, one qkv_proj.weight = [q; k; v] per rank." };
    private readonly Option<string?> _xser = new("--xser")
    {
        Description = "NxDT: --to nxdt saves, --from nxdt loads torch_xla serialization (--save_xser / --load_xser). Saving: inline (the default, "
            + "as the converter writes) or reference (as NxDT training writes: a file per tensor); loading reads both.",
        Arity = ArgumentArity.ZeroOrOne,
    };
    private readonly Option<bool> _fromFull = new("--convert-from-full-state", "--convert_from_full_state") { Description = "NxDT: accepted for familiarity (the direction is --from/--to)." };
    private readonly Option<bool> _toFull = new("--convert-to-full-state", "--convert_to_full_state") { Description = "NxDT: accepted for familiarity (the direction is --from/--to)." };

    public string Name => FormatName;

    public IFormatReader Reader { get; } = new NxdReader();

    public IFormatWriter Writer { get; } = new NxdWriter();

    public IReadOnlyList<Option> Options => [_style, _hw, _tp, _pp, _layers, _kv, _qkvLinear, _fuse, _coalesce, _xser, _fromFull, _toFull];

    public FormatOptions Bind(ParseResult parse, FormatRole role)
    {
        string style = parse.GetValue(_style)!;
        NxdModelStyle modelStyle = style switch
        {
            "hf" => NxdModelStyle.Hf,
            "megatron" => NxdModelStyle.Megatron,
            _ => throw new FormatOptionException(_style.Name, $"--model-style must be hf or megatron, got '{style}'"),
        };
        NxdHardware? hw = parse.GetValue(_hw) switch
        {
            null => null,
            "trn1" => NxdHardware.Trn1,
            "trn2" => NxdHardware.Trn2,
            string other => throw new FormatOptionException(_hw.Name, $"--hw-backend must be trn1 or trn2, got '{other}'"),
        };
        int? tp = parse.GetValue(_tp), pp = parse.GetValue(_pp), layers = parse.GetValue(_layers);
        int kv = parse.GetValue(_kv);
        if (tp is < 1 or > MaxDegree) throw new FormatOptionException(_tp.Name, $"--tp-size must be 1..{MaxDegree}, got {tp}");
        if (pp is < 1 or > MaxDegree) throw new FormatOptionException(_pp.Name, $"--pp-size must be 1..{MaxDegree}, got {pp}");
        if (layers is < 1) throw new FormatOptionException(_layers.Name, $"--n-layers must be positive, got {layers}");
        if (kv is < 1 or > MaxDegree) throw new FormatOptionException(_kv.Name, $"--kv-size-multiplier must be 1..{MaxDegree}, got {kv}");
        bool reads = role.HasFlag(FormatRole.Read), writes = role.HasFlag(FormatRole.Write);
        var (xser, byReference) = XserForm(parse);
        if ((reads || writes) && hw is null)
            throw new FormatOptionException(_hw.Name, $"--{(writes ? "to" : "from")} nxdt needs --hw-backend trn1 or trn2 (as NxDT's converter does): it decides how KV replicas pair with query heads");
        if (parse.GetValue(_fromFull) && reads) throw new FormatOptionException(_fromFull.Name, "--convert-from-full-state converts HF to NxDT; with --from nxdt use --convert-to-full-state (or neither)");
        if (parse.GetValue(_toFull) && writes) throw new FormatOptionException(_toFull.Name, "--convert-to-full-state converts NxDT to HF; with --to nxdt use --convert-from-full-state (or neither)");
        return new NxdOptions
        {
            ModelStyle = modelStyle, Hardware = hw, TpSize = tp, PpSize = pp, NLayers = layers, KvSizeMultiplier = kv,
            QkvLinear = parse.GetValue(_qkvLinear), FuseQkv = parse.GetValue(_fuse), CoalesceQkv = parse.GetValue(_coalesce),
            Xser = xser, XserByReference = byReference, Config = reads || writes ? SharedConfig(parse) : null,
        };
    }

    public FormatOptions Defaults(string? version = null) => new NxdOptions();

    /// <summary>
    /// <c>--xser</c> alone (or <c>inline</c>, or NxDT's <c>True</c>) means the converter's inline form; <c>reference</c>
    /// the training writer's; <c>false</c> (NxDT's <c>--save_xser False</c>) plain files.
    /// </summary>
    private (bool Xser, bool ByReference) XserForm(ParseResult parse)
    {
        if (parse.GetResult(_xser) is not { Implicit: false }) return (false, false);
        return parse.GetValue(_xser)?.ToLowerInvariant() switch
        {
            null or "" or "inline" or "true" => (true, false),
            "reference" => (true, true),
            "false" => (false, false),
            string other => throw new FormatOptionException(_xser.Name, $"--xser takes inline (the default: tensors in the rank file, as NxDT's converter saves) or reference (a file per tensor, as NxDT training saves), got '{other}'"),
        };
    }

    /// <summary>
    /// <c>--config</c> is one option of the whole command (another format declares it, and option names are unique), so
    /// it is looked up by name: for NxDT it names the model's config.json, as NxDT's <c>--config</c> does.
    /// </summary>
    private static string? SharedConfig(ParseResult parse)
    {
        try
        {
            return parse.GetValue<string?>("--config");
        }
        catch (InvalidOperationException)
        {
            return null;
        }
        catch (ArgumentException)
        {
            return null;
        }
    }
}
