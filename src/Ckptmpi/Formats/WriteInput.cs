using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Formats;

/// <summary>
/// What a writer lays out from: the source's tensors and facts, the format-neutral <c>--dtype</c> (null: the source's),
/// and the text of the files its options named (<see cref="IFormatWriter.InputFiles"/>), by the path as given.
/// </summary>
public sealed record WriteInput(SourceCatalog Catalog, SourceFacts Facts, DType? DType, IReadOnlyDictionary<string, string> Files);
