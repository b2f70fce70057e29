namespace Ckptmpi.Tensors.Layout;

/// <summary>
/// Everything a format writer will produce, as data: every output file fully described. The planner cuts it
/// into per-rank work; the executor fills it. Files with <see cref="OutputFile.IsCommitMarker"/> are written last.
/// </summary>
public sealed record OutputLayout(IReadOnlyList<OutputFile> Files)
{
    public long TotalBytes => Files.Sum(f => f.Length);

    /// <summary>
    /// Folders a format's loader expects even when they hold nothing (torch_xla's inline xser leaves an empty
    /// <c>&lt;file&gt;.tensors/</c> beside each file), relative like the files; rank 0 creates them at commit, after the
    /// files are renamed and before the commit markers.
    /// </summary>
    public IReadOnlyList<string> Directories { get; init; } = [];

    public void Validate()
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (OutputFile f in Files)
        {
            if (!seen.Add(f.RelativePath)) throw new InvalidOperationException($"output file '{f.RelativePath}' is described twice");
            f.Validate();
        }
        foreach (string d in Directories)
        {
            if (seen.Contains(d)) throw new InvalidOperationException($"output folder '{d}' is also an output file");
        }
    }
}
