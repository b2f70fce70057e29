namespace Ckptmpi.Tensors.Layout;

/// <summary>
/// Everything a format writer will produce, as data: every output file fully described. The planner cuts it
/// into per-rank work; the executor fills it. Files with <see cref="OutputFile.IsCommitMarker"/> are written last.
/// </summary>
public sealed record OutputLayout(IReadOnlyList<OutputFile> Files)
{
    public long TotalBytes => Files.Sum(f => f.Length);

    public void Validate()
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (OutputFile f in Files)
        {
            if (!seen.Add(f.RelativePath)) throw new InvalidOperationException($"output file '{f.RelativePath}' is described twice");
            f.Validate();
        }
    }
}
