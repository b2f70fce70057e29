using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Conversion.Planning;

/// <summary>
/// The catalog arranged for the chunker: source files numbered in ordinal order, each tensor's pieces with their
/// file numbers, and, for tensors stored only as flat runs, the runs sorted by first element.
/// </summary>
internal sealed class SourceIndex
{
    private readonly Dictionary<string, Entry> _tensors = new(StringComparer.Ordinal);

    private sealed record Entry(long ElementCount, SourcePiece[] Pieces, long[] Firsts, int[] Files, bool AllFlat);

    public SourceIndex(SourceCatalog catalog)
    {
        Root = catalog.Root;
        Files = catalog.Tensors.SelectMany(t => t.Pieces).Select(p => p.File).Distinct().Order(StringComparer.Ordinal).ToArray();
        var fileIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < Files.Count; i++) fileIndex[Files[i]] = i;
        foreach (SourceTensor t in catalog.Tensors)
        {
            bool flat = t.Pieces.All(p => p.IsFlat);
            SourcePiece[] pieces = t.Pieces.Where(p => p.ElementCount > 0).OrderBy(p => flat ? p.FirstElement : 0).ToArray();
            _tensors[t.Name] = new Entry(t.ElementCount, pieces, flat ? pieces.Select(p => p.FirstElement).ToArray() : [],
                                         pieces.Select(p => fileIndex[p.File]).ToArray(), flat);
        }
    }

    public IReadOnlyList<string> Files { get; }

    /// <summary>The catalog's root, for error messages.</summary>
    public string Root { get; }

    /// <summary>Whether every piece of <paramref name="tensor"/> is a flat run (what HF and ZeRO readers produce).</summary>
    public bool AllFlat(string tensor) => _tensors[tensor].AllFlat;

    public long ElementCount(string tensor) => _tensors[tensor].ElementCount;

    /// <summary>The non-empty pieces of <paramref name="tensor"/> with their source file numbers.</summary>
    public IEnumerable<(SourcePiece Piece, int File)> Pieces(string tensor)
    {
        Entry e = _tensors[tensor];
        for (int i = 0; i < e.Pieces.Length; i++) yield return (e.Pieces[i], e.Files[i]);
    }

    /// <summary>The flat piece holding <paramref name="element"/> of <paramref name="tensor"/> and its source file number.</summary>
    public (SourcePiece Piece, int File) PieceAt(string tensor, long element)
    {
        Entry e = _tensors[tensor];
        int i = Array.BinarySearch(e.Firsts, element);
        if (i < 0) i = ~i - 1;
        return (e.Pieces[i], e.Files[i]);
    }
}
