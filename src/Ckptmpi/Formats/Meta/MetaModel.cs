namespace Ckptmpi.Formats.Meta;

/// <summary>
/// The shape facts of a Llama model as Meta's original checkpoints need them, whichever side they come from
/// (params.json when reading, config.json when writing).
/// </summary>
public sealed record MetaModel
{
    public required long Dim { get; init; }

    public required long Layers { get; init; }

    public required long Heads { get; init; }

    /// <summary>The architecture's key/value heads (after removing duplicates, see <see cref="KvReplicas"/>).</summary>
    public required long KvHeads { get; init; }

    /// <summary>
    /// How many times each KV head is stored, in place, in the shards: 1, or more when a checkpoint was resharded to more
    /// model-parallel ranks than it has KV heads (the 405B bf16-mp16 download: 2). params.json declares
    /// <c>KvHeads * KvReplicas</c> heads.
    /// </summary>
    public int KvReplicas { get; init; } = 1;

    public required long FfnDim { get; init; }

    public required long Vocab { get; init; }

    public required double NormEps { get; init; }

    public required double RopeTheta { get; init; }

    /// <summary>Llama 3.1 frequency scaling (params.json <c>use_scaled_rope</c>); null when the model has none.</summary>
    public RopeScaling? RopeScaling { get; init; }

    /// <summary>The model line: "2" (embedding split on dim 1 across MP shards) or "3", "3.1" (split on dim 0).</summary>
    public required string Version { get; init; }

    public long HeadDim => Dim / Heads;

    public long DeclaredKvHeads => KvHeads * KvReplicas;

    /// <summary>
    /// The MP split axis of <c>tok_embeddings.weight</c>: Llama 2's ParallelEmbedding splits the embedding dim, Llama 3's
    /// VocabParallelEmbedding the vocabulary. A reader takes it from the shards (a Llama 2 checkpoint resharded by
    /// llama-models is cut on dim 0), a writer from <see cref="Version"/>.
    /// </summary>
    public required int EmbeddingSplitDim { get; init; }

    /// <summary>The embedding split Meta's code for <paramref name="version"/> uses.</summary>
    public static int EmbeddingSplitFor(string version) => version == "2" ? 1 : 0;
}

/// <summary>Llama 3.1's rope frequency scaling, the values Meta's <c>apply_scaling</c> uses.</summary>
public sealed record RopeScaling(double Factor, double LowFreqFactor, double HighFreqFactor, long OriginalMaxPositionEmbeddings)
{
    /// <summary>What Meta's code hard-codes for <c>use_scaled_rope</c> (Llama 3.1).</summary>
    public static RopeScaling Llama31 { get; } = new(8.0, 1.0, 4.0, 8192);
}
