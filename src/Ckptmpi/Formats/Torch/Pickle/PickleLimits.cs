namespace Ckptmpi.Formats.Torch.Pickle;

/// <summary>
/// Bounds the pickle reader enforces so that hostile input fails fast instead of exhausting memory or the stack.
/// Every length is also bounded by the bytes that remain, so no allocation is ever sized by a declared length alone.
/// </summary>
public sealed record PickleLimits
{
    /// <summary>Deepest nesting of containers in the result (torch checkpoints are under 20 deep; CPython recurses to 1000).</summary>
    public int MaxDepth { get; init; } = 256;

    /// <summary>Most memo entries (each PUT or MEMOIZE adds one).</summary>
    public int MaxMemoEntries { get; init; } = 16 << 20;

    /// <summary>Most bytes of a LONG1/LONG4 integer.</summary>
    public int MaxLongBytes { get; init; } = 4096;

    /// <summary>Largest pickle accepted (data.pkl is metadata; tensor bytes live in separate records).</summary>
    public long MaxPickleBytes { get; init; } = 1L << 30;

    public static PickleLimits Default { get; } = new();
}
