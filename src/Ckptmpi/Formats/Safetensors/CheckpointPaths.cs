using System.Runtime.InteropServices;
using Ckptmpi.Errors;

namespace Ckptmpi.Formats.Safetensors;

/// <summary>
/// Resolves file names taken from an index (untrusted data) to paths that stay inside the checkpoint directory:
/// no absolute paths, no <c>..</c>, and no symlink that leads outside, with one exception: the Hugging Face hub
/// cache, where <c>snapshots/&lt;rev&gt;/*</c> are symlinks to <c>../../blobs/&lt;hash&gt;</c>.
/// </summary>
internal static partial class CheckpointPaths
{
    public static string Resolve(string dir, string name, string indexPath)
    {
        if (name.Length == 0 || System.IO.Path.IsPathRooted(name) || name.Contains('\0'))
            throw new CheckpointFormatException(indexPath, null, $"file name '{name}' must be a relative path inside the checkpoint directory");
        string[] parts = name.Split('/', '\\');
        if (parts.Any(p => p is ".." or "." or ""))
            throw new CheckpointFormatException(indexPath, null, $"file name '{name}' may not contain '..', '.' or empty path components");
        string full = System.IO.Path.Combine(dir, name);
        if (!File.Exists(full))
            throw new CheckpointFormatException(indexPath, null, $"the index names '{name}', which does not exist in {dir}; the checkpoint is incomplete");
        string realDir = RealPath(dir), realFile = RealPath(full);
        if (realFile.StartsWith(realDir + "/", StringComparison.Ordinal) || IsHubCacheBlob(realDir, realFile))
            return full;
        throw new CheckpointFormatException(indexPath, null, $"'{name}' is a link to {realFile}, outside the checkpoint directory {realDir}");
    }

    // hub/models--org--name/snapshots/<rev>/file -> hub/models--org--name/blobs/<sha>
    private static bool IsHubCacheBlob(string realDir, string realFile)
    {
        string? snapshots = System.IO.Path.GetDirectoryName(realDir);
        string? repo = snapshots is null ? null : System.IO.Path.GetDirectoryName(snapshots);
        return repo is not null && System.IO.Path.GetFileName(snapshots) == "snapshots"
            && System.IO.Path.GetDirectoryName(realFile) == System.IO.Path.Combine(repo, "blobs");
    }

    /// <summary>The canonical path with every symlink resolved (POSIX realpath).</summary>
    public static string RealPath(string path)
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS())
            return System.IO.Path.GetFullPath(path);
        nint resolved = realpath(path, 0);
        if (resolved == 0) throw new FileNotFoundException($"cannot resolve {path}", path);
        try
        {
            return Marshal.PtrToStringUTF8(resolved)!;
        }
        finally
        {
            unsafe { NativeMemory.Free((void*)resolved); } // realpath mallocs the result
        }
    }

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial nint realpath(string path, nint resolved);
}
