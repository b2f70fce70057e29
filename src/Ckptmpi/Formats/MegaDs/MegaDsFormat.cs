using System.CommandLine;
using Ckptmpi.Errors;
using Ckptmpi.Formats.DeepSpeed;

namespace Ckptmpi.Formats.MegaDs;

/// <summary>
/// Megatron-DeepSpeed (argonne-lcf) pipeline checkpoints of GPTModelPipe: layer files per pipeline layer and tensor
/// rank, model states and ZeRO optimizer partitions per model-parallel rank: the reader, and the writer of the
/// checkpoint Megatron-DeepSpeed saves after initialising from HF weights.
/// </summary>
public sealed class MegaDsFormat : ICheckpointFormat
{
    public const string FormatName = "megads";

    private readonly Option<string?> _weightsFrom = CreateWeightsFrom();
    private readonly Option<int?> _divisible = new("--make-vocab-size-divisible-by") { Description = "--to megads: Megatron's make_vocab_size_divisible_by; the vocabulary is padded to a multiple of it times --tp-size (default 128)." };
    private readonly Option<string?> _tie = CreateTie();
    private readonly Option<long?> _iteration = new("--iteration") { Description = "--to megads: the iteration the checkpoint is saved at (tag global_stepN; default: a trained source's, else 0)." };
    private readonly Option<string?> _padding = CreatePadding();
    private readonly Option<string?> _megatronArgs = new("--megatron-args") { Description = "--to megads: a JSON object of Megatron argument values (e.g. json.dumps of vars(args)) over the built-in template; see docs/formats/megads.md." };

    public string Name => FormatName;

    public IFormatReader Reader { get; } = new MegaDsReader();

    public IFormatWriter? Writer { get; } = new MegaDsWriter();

    public IReadOnlyList<Option> Options => [_weightsFrom, _divisible, _tie, _iteration, _padding, _megatronArgs];

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
        var options = new MegaDsOptions { Tag = tag, WeightsFrom = from, Config = parse.GetValue<string?>("--config"),
            WithOptimizerStates = parse.GetValue<bool>("--with-optimizer-states"),
        };
        return role.HasFlag(FormatRole.Write) ? BindWrite(parse, options) : options;
    }

    /// <summary>
    /// The writer's options. --tp-size and --pp-size are the NxDT format's options, --dp-size, --zero-stage and --ds-config
    /// the ZeRO format's (option names are unique across formats); they mean the same here.
    /// </summary>
    private MegaDsOptions BindWrite(ParseResult parse, MegaDsOptions options)
    {
        int? Size(string name)
        {
            int? v = parse.GetValue<int?>(name);
            if (v is null) throw new FormatOptionException(name, $"--to megads needs {name} (the training job's)");
            if (v is < 1 or > ZeroFormat.MaxDpSize) throw new FormatOptionException(name, $"{name} must be 1..{ZeroFormat.MaxDpSize}, got {v}");
            return v;
        }
        int? stage = parse.GetValue<int?>("--zero-stage");
        if (stage is not (null or 0 or 1)) throw new FormatOptionException("--zero-stage", $"--to megads writes ZeRO stage 0 or 1 (what Megatron-DeepSpeed pipelines run), got {stage}");
        int divisible = parse.GetValue(_divisible) ?? 128;
        if (divisible < 1) throw new FormatOptionException(_divisible.Name, $"--make-vocab-size-divisible-by must be positive, got {divisible}");
        long? iteration = parse.GetValue(_iteration);
        if (iteration < 0) throw new FormatOptionException(_iteration.Name, $"--iteration must be >= 0, got {iteration}");
        MegaDsTie tie = parse.GetValue(_tie) switch
        {
            null or "auto" => MegaDsTie.Auto,
            "true" => MegaDsTie.Tied,
            "false" => MegaDsTie.Untied,
            string s => throw new FormatOptionException(_tie.Name, $"--tie-embeddings must be auto, true or false, got '{s}'"),
        };
        return options with
        {
            TpSize = Size("--tp-size"), PpSize = Size("--pp-size"), DpSize = Size("--dp-size"), ZeroStage = stage, VocabDivisibleBy = divisible,
            Tie = tie, Iteration = iteration, VocabPadding = parse.GetValue(_padding) switch { "mean" => MegaDsVocabPadding.Mean, "zero" => MegaDsVocabPadding.Zero, _ => MegaDsVocabPadding.Auto }, MegatronArgs = parse.GetValue(_megatronArgs), DsConfig = parse.GetValue<string?>("--ds-config"),
        };
    }

    public FormatOptions Defaults(string? version = null) => new MegaDsOptions { Tag = version };

    private static Option<string?> CreatePadding()
    {
        var o = new Option<string?>("--vocab-padding")
        {
            Description = "--to megads: the padded vocabulary rows: 'mean' of the real rows (as Megatron-DeepSpeed's HF converter; reads the vocabulary tensor in one buffer pass), 'zero', or 'auto' (mean when one pass can hold it, else zero with a warning; the default).",
        };
        o.AcceptOnlyFromAmong("auto", "mean", "zero");
        return o;
    }

    private static Option<string?> CreateTie()
    {
        var o = new Option<string?>("--tie-embeddings") { Description = "--to megads: tie the output head to the word embeddings: auto (as config.json's tie_word_embeddings; the default), true or false." };
        o.AcceptOnlyFromAmong("auto", "true", "false");
        return o;
    }

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
