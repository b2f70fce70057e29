using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Conversion.Planning;

/// <summary>The catalog arranged for the chunker: source files numbered in ordinal order, and each tensor's pieces sorted by first element.</summary>
internal sealed class SourceIndex
{
    private readonly Dictionary<string, (SourcePiece[] Pieces, long[] Firsts, int[] Files)> _tensors = new(StringComparer.Ordinal);

    public SourceIndex(SourceCatalog catalog)
    {
        Files = catalog.Tensors.SelectMany(t => t.Pieces).Select(p => p.File).Distinct().Order(StringComparer.Ordinal).ToArray();
        var fileIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < Files.Count; i++) fileIndex[Files[i]] = i;
        foreach (SourceTensor t in catalog.Tensors)
        {
            SourcePiece[] pieces = t.Pieces.Where(p => p.ElementCount > 0).OrderBy(p => p.FirstElement).ToArray();
            _tensors[t.Name] = (pieces, pieces.Select(p => p.FirstElement).ToArray(), pieces.Select(p => fileIndex[p.File]).ToArray());
        }
    }

    public IReadOnlyList<string> Files { get; }

    /// <summary>The piece holding <paramref name="element"/> of <paramref name="tensor"/> and its source file number.</summary>
    public (SourcePiece Piece, int File) PieceAt(string tensor, long element)
    {
        var (pieces, firsts, files) = _tensors[tensor];
        int i = Array.BinarySearch(firsts, element);
        if (i < 0) i = ~i - 1;
        return (pieces[i], files[i]);
    }
}
