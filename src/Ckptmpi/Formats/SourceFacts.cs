using Ckptmpi.Tensors;

namespace Ckptmpi.Formats;

/// <summary>
/// What a reader tells any writer about the source besides where its tensors live, typed so that a writer of any
/// format understands a reader of any other. Broadcast from rank 0 with the catalog.
/// </summary>
public sealed record SourceFacts
{
    /// <summary>The reader that produced these facts (<see cref="ICheckpointFormat.Name"/>).</summary>
    public required string Format { get; init; }

    /// <summary>The model's config.json text, when the source has one (or <c>--config</c> named one): writers carry it beside their output.</summary>
    public string? ModelConfigJson { get; init; }

    /// <summary>
    /// The dtype a target writes when <c>--dtype</c> is not given; null: each tensor's own. A ZeRO source says fp32,
    /// the dtype of the master weights its catalog exposes.
    /// </summary>
    public DType? PreferredDType { get; init; }

    /// <summary>
    /// Small files the source keeps beside its weights that a target carries unchanged (Meta's <c>tokenizer.model</c>),
    /// by file name; null when there are none. Writers add them with <see cref="ModelConfigFile.AppendTo"/>.
    /// </summary>
    public IReadOnlyDictionary<string, byte[]>? SideFiles { get; init; }

    /// <summary>
    /// Small files of the source checkpoint, verbatim, by name, that a writer of a format built on the same training
    /// framework reuses (a DeepSpeed universal checkpoint copies Megatron-DeepSpeed's model-state files and keeps the
    /// optimizer's hyperparameters); null when the source offers none. Unlike <see cref="SideFiles"/>, other writers ignore them.
    /// </summary>
    public IReadOnlyDictionary<string, byte[]>? NativeFiles { get; init; }

    /// <summary>Training state the source holds beyond the weights (optimizer moments, step); null when it holds none.</summary>
    public TrainingState? Training { get; init; }
}
