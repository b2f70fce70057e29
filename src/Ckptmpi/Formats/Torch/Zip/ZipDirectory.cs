namespace Ckptmpi.Formats.Torch.Zip;

/// <summary>
/// The validated central directory of a torch.save zip: its entries in directory order and the archive folder
/// name every entry lives under (docs/formats/torch.md). Built only by <see cref="ZipReader.Read"/>.
/// </summary>
public sealed class ZipDirectory
{
    private readonly Dictionary<string, ZipEntry> _byName;

    internal ZipDirectory(string path, string archiveName, IReadOnlyList<ZipEntry> entries)
    {
        Path = path;
        ArchiveName = archiveName;
        Entries = entries;
        _byName = new Dictionary<string, ZipEntry>(entries.Count, StringComparer.Ordinal);
        foreach (ZipEntry e in entries) _byName.Add(e.Name, e);
    }

    /// <summary>The file, for error messages.</summary>
    public string Path { get; }

    /// <summary>The folder before the first <c>/</c> of the first entry (<c>mp_rank_00_model_states</c>, <c>archive</c>).</summary>
    public string ArchiveName { get; }

    public IReadOnlyList<ZipEntry> Entries { get; }

    /// <summary>The entry <c>&lt;ArchiveName&gt;/&lt;record&gt;</c>, or null.</summary>
    public ZipEntry? FindRecord(string record) => _byName.GetValueOrDefault(ArchiveName + "/" + record);
}
