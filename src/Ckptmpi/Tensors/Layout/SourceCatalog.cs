namespace Ckptmpi.Tensors.Layout;

/// <summary>
/// What a format reader knows about a source checkpoint without reading tensor data: its canonical tensors,
/// in the order the source lists them, and the files (relative to <see cref="Root"/>) they live in.
/// </summary>
public sealed class SourceCatalog
{
    private readonly Dictionary<string, SourceTensor> _byName;

    public SourceCatalog(string root, IReadOnlyList<SourceTensor> tensors)
    {
        Root = root;
        Tensors = tensors;
        _byName = new Dictionary<string, SourceTensor>(StringComparer.Ordinal);
        foreach (SourceTensor t in tensors)
        {
            if (!_byName.TryAdd(t.Name, t))
                throw new ArgumentException($"tensor '{t.Name}' is listed twice", nameof(tensors));
        }
    }

    /// <summary>Directory the <see cref="SourcePiece.File"/> paths are relative to.</summary>
    public string Root { get; }

    public IReadOnlyList<SourceTensor> Tensors { get; }

    public SourceTensor this[string name] => _byName.TryGetValue(name, out SourceTensor? t)
        ? t
        : throw new KeyNotFoundException($"no tensor named '{name}' in the source ({Tensors.Count} tensors)");

    public bool Contains(string name) => _byName.ContainsKey(name);
}
