using Ckptmpi.Tensors.Layout;
using Microsoft.Win32.SafeHandles;

namespace Ckptmpi.Conversion.Execution;

/// <summary>
/// The temporary files of one output directory: <c>&lt;file&gt;.tmp</c> beside each final name, created and
/// pre-sized by the file's owner, written at offsets by any rank, synced by each writer, renamed by rank 0.
/// Paths are checked to stay inside the output directory.
/// </summary>
internal sealed class OutputFiles(string outputDir, IReadOnlyList<OutputFile> files) : IDisposable
{
    public const string TempSuffix = ".tmp";

    private readonly SafeFileHandle?[] _handles = new SafeFileHandle?[files.Count];

    public string FinalPath(int file) => Resolve(outputDir, files[file].RelativePath);

    public string TempPath(int file) => FinalPath(file) + TempSuffix;

    /// <summary>
    /// Creates (or truncates) the temporary file and gives it its final length, so ranks can write anywhere in it.
    /// <paramref name="keepExisting"/> (<c>--resume</c>): keep the bytes of an interrupted run's temporary file.
    /// </summary>
    public void Create(int file, bool keepExisting = false)
    {
        string tmp = TempPath(file);
        Directory.CreateDirectory(Path.GetDirectoryName(tmp)!);
        tmp = TempPath(file); // again: the folders now exist, and none of them may be a link
        var existing = new FileInfo(tmp);
        bool isLink = existing.LinkTarget is not null;
        // A stale temporary file of ours, or a link planted under our temporary name: removed (unlinking a link never
        // touches its target), then the file is created anew.
        if ((existing.Exists || isLink) && (!keepExisting || isLink)) existing.Delete();
        // CreateNew is O_CREAT | O_EXCL: it fails rather than follow a link planted under the temporary name.
        FileMode mode = keepExisting && File.Exists(tmp) ? FileMode.Open : FileMode.CreateNew;
        using SafeFileHandle h = File.OpenHandle(tmp, mode, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete);
        try
        {
            RandomAccess.SetLength(h, files[file].Length);
        }
        catch (ArgumentException e)
        {
            // .NET reports EFBIG (a file-size limit, or a file system's largest file) as a bad argument: it is the
            // output's storage refusing the file, an I/O error like a full disk.
            throw new IOException($"{tmp}: File too large: the file system or a file-size limit (ulimit -f) refuses {files[file].Length} bytes", e);
        }
    }

    /// <summary>Creates a folder of the layout (<see cref="OutputLayout.Directories"/>), inside the output directory and through no link.</summary>
    public void CreateFolder(string relativePath) => Directory.CreateDirectory(Resolve(outputDir, relativePath));

    /// <summary>A write handle on the temporary file, opened once per rank.</summary>
    /// <remarks>Thread-safe: the direct executor's write thread and its filling thread (resume checks) may ask at once.</remarks>
    public SafeFileHandle Writer(int file)
    {
        lock (_handles)
            return _handles[file] ??= File.OpenHandle(TempPath(file), FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete);
    }

    /// <summary>fsyncs every file this rank wrote: the data must be durable before rank 0 renames anything.</summary>
    public void FlushAll()
    {
        foreach (SafeFileHandle? h in _handles)
        {
            if (h is not null) RandomAccess.FlushToDisk(h);
        }
    }

    public void Close()
    {
        foreach (SafeFileHandle? h in _handles) h?.Dispose();
        Array.Clear(_handles);
    }

    public void Dispose() => Close();

    /// <summary>
    /// Joins a layout's relative path to the output directory, refusing anything that would land outside it: lexically
    /// (<c>..</c>, absolute paths) and through the file system (a folder or file below the output directory that is a
    /// symbolic link, e.g. a planted <c>out/global_step0 -&gt; ../elsewhere</c>). The output directory itself may be a
    /// link (clusters often reach project space through one); what lies below it must be ours.
    /// </summary>
    /// <exception cref="InvalidOperationException">the path escapes lexically (a bug in a layout or a hostile manifest).</exception>
    /// <exception cref="Errors.OutputExistsException">a component below the output directory is a symbolic link.</exception>
    public static string Resolve(string outputDir, string relativePath)
    {
        string root = Path.GetFullPath(outputDir);
        string full = Path.GetFullPath(Path.Combine(root, relativePath));
        if (Path.IsPathRooted(relativePath) || !full.StartsWith(root.TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            throw new InvalidOperationException($"output path '{relativePath}' escapes the output directory {root}");
        string at = root;
        foreach (string part in Path.GetRelativePath(root, full).Split(Path.DirectorySeparatorChar))
        {
            at = Path.Combine(at, part);
            if (new FileInfo(at).LinkTarget is string target)
                throw new Errors.OutputExistsException(at, $"is a symbolic link (to {target}) inside the output directory; ckptmpi writes only its own regular files there: remove the link or choose another --output");
        }
        return full;
    }
}
