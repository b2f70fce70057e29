using Ckptmpi.Errors;

namespace Ckptmpi.Formats.Safetensors;

/// <summary>
/// Resolves file names taken from an index (untrusted data) to paths that stay inside the checkpoint directory:
/// no absolute paths, no <c>..</c>, and no symlink that leads outside, with one exception: the Hugging Face hub
/// cache, where <c>snapshots/&lt;rev&gt;/*</c> are symlinks to <c>../../blobs/&lt;hash&gt;</c>.
/// </summary>
internal static class CheckpointPaths
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

    private const int MaxLinkHops = 40; // as Linux's MAXSYMLINKS: a cycle is an error, not a hang

    /// <summary>
    /// The canonical absolute path with every symlink resolved, component by component (POSIX realpath semantics:
    /// a <c>..</c> after a link climbs from the link's target, not lexically).
    /// </summary>
    /// <exception cref="IOException">More than 40 links were followed (a cycle).</exception>
    public static string RealPath(string path)
    {
        // Not Path.GetFullPath: it would collapse '..' lexically before the links are known.
        string absolute = System.IO.Path.IsPathRooted(path) ? path : System.IO.Path.Combine(Directory.GetCurrentDirectory(), path);
        var pending = new Stack<string>(absolute.Split('/', StringSplitOptions.RemoveEmptyEntries).Reverse());
        string current = "/";
        int hops = 0;
        while (pending.Count > 0)
        {
            string part = pending.Pop();
            if (part == ".") continue;
            if (part == "..")
            {
                current = System.IO.Path.GetDirectoryName(current) ?? "/";
                continue;
            }
            string next = System.IO.Path.Combine(current, part);
            if (new FileInfo(next).LinkTarget is string target)
            {
                if (++hops > MaxLinkHops) throw new IOException($"{path}: too many levels of symbolic links");
                foreach (string p in target.Split('/', StringSplitOptions.RemoveEmptyEntries).Reverse()) pending.Push(p);
                if (target.StartsWith('/')) current = "/";
            }
            else
            {
                current = next;
            }
        }
        return current;
    }
}
