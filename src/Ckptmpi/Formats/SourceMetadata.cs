using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Formats;

/// <summary>What a reader found: the tensors, the facts for the writer, and every file it read (for the manifest).</summary>
public sealed record SourceMetadata(SourceCatalog Catalog, SourceFacts Facts, IReadOnlyList<string> InputFiles);
