namespace Ckptmpi.Formats.MegaDs;

/// <summary>Where the weights of a Megatron-DeepSpeed checkpoint are read from.</summary>
public enum MegaDsWeightSource
{
    /// <summary>The fp32 master partitions of the ZeRO optimizer files when the checkpoint has them (as zero_to_fp32), else the layer files.</summary>
    Auto,

    /// <summary>The fp32 master partitions; an error when the checkpoint has no optimizer files.</summary>
    Optimizer,

    /// <summary>The training-dtype weights of the pipeline layer files.</summary>
    Module,
}

/// <summary>What the written padded vocabulary rows hold.</summary>
public enum MegaDsVocabPadding
{
    /// <summary><see cref="Mean"/> when one buffer pass can hold the vocabulary tensor, else <see cref="Zero"/> with a warning.</summary>
    Auto,

    /// <summary>The mean of the real rows, as Megatron-DeepSpeed's HF converter fills them (the vocabulary tensor read in one buffer pass).</summary>
    Mean,

    /// <summary>Zeros, as a universal checkpoint load leaves them; any buffer.</summary>
    Zero,
}

/// <summary>Whether the written GPTModelPipe ties its output head to the word embeddings.</summary>
public enum MegaDsTie
{
    /// <summary>As the HF config's <c>tie_word_embeddings</c> says.</summary>
    Auto,
    Tied,
    Untied,
}

/// <summary>The options of the Megatron-DeepSpeed format (reading; and writing from <see cref="TpSize"/> on).</summary>
public sealed record MegaDsOptions : FormatOptions
{
    public override string Format => MegaDsFormat.FormatName;

    /// <summary>Tag folder to read (default: the one named by 'latest').</summary>
    public string? Tag { get; init; }

    public MegaDsWeightSource WeightsFrom { get; init; } = MegaDsWeightSource.Auto;

    /// <summary>Also expose the Adam moments (exp_avg, exp_avg_sq; and a torch Adam's step) merged as the weights are, under the HF names.</summary>
    public bool WithOptimizerStates { get; init; }

    /// <summary>A HuggingFace config.json that describes the model: carried into the output, and every shard is checked against it.</summary>
    public string? Config { get; init; }

    /// <summary>Writing: the training job's tensor, pipeline and data parallel sizes.</summary>
    public int? TpSize { get; init; }
    public int? PpSize { get; init; }
    public int? DpSize { get; init; }

    /// <summary>Writing: the ZeRO stage (0 or 1); null takes the --ds-config's (default 1).</summary>
    public int? ZeroStage { get; init; }

    /// <summary>Writing: Megatron's make_vocab_size_divisible_by (the vocabulary is padded to a multiple of it times tp).</summary>
    public int VocabDivisibleBy { get; init; } = 128;

    public MegaDsTie Tie { get; init; } = MegaDsTie.Auto;

    public MegaDsVocabPadding VocabPadding { get; init; } = MegaDsVocabPadding.Auto;

    /// <summary>Writing: the iteration the checkpoint is saved at (tag global_step{N}); null: the trained source's, else 0.</summary>
    public long? Iteration { get; init; }

    /// <summary>Writing: a JSON object of Megatron argument values over the built-in template (see docs/formats/megads.md).</summary>
    public string? MegatronArgs { get; init; }

    /// <summary>Writing: the training job's DeepSpeed config JSON.</summary>
    public string? DsConfig { get; init; }
}
