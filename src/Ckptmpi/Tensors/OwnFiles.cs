namespace Ckptmpi.Tensors;

/// <summary>
/// The small files ckptmpi writes for itself in an output directory (a manifest's, a journal plan's or a report's
/// temporary name): a stale file or a link there is removed, and the file is created exclusively
/// (<c>O_CREAT | O_EXCL</c>), so a symbolic link planted under that name is never followed. Unlinking a planted link
/// leaves its target alone.
/// </summary>
public static class OwnFiles
{
    public static FileStream CreateNew(string path)
    {
        var info = new FileInfo(path);
        if (info.Exists || info.LinkTarget is not null) info.Delete();
        return new FileStream(path, FileMode.CreateNew, FileAccess.Write);
    }
}
