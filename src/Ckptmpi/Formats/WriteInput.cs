using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Formats;

/// <summary>
/// What a writer lays out from: the source's tensors and facts, the format-neutral <c>--dtype</c> (null: the source's),
/// and the text of the files its options named (<see cref="IFormatWriter.InputFiles"/>), by the path as given.
/// </summary>
public sealed record WriteInput(SourceCatalog Catalog, SourceFacts Facts, DType? DType, IReadOnlyDictionary<string, string> Files)
{
    /// <summary>
    /// The most one chunk of the plan holds (from --max-buffer), for a writer whose records read a whole tensor in one
    /// pass (a reduction) and that can choose another record when it would not fit; null when not known.
    /// </summary>
    public long? ChunkBytes { get; init; }
}
