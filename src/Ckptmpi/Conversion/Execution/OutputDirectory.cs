using Ckptmpi.Conversion.Manifests;
using Ckptmpi.Conversion.Planning;
using Ckptmpi.Errors;

namespace Ckptmpi.Conversion.Execution;

/// <summary>Rank 0's checks on the output directory before anything is written.</summary>
internal static class OutputDirectory
{
    /// <summary>
    /// Refuses a directory that already holds any file of this checkpoint (or a manifest) unless
    /// <paramref name="overwrite"/>; with it, removes the old manifest and commit markers first, so that no
    /// moment exists where a stale marker stands beside half-rewritten files.
    /// </summary>
    /// <exception cref="OutputExistsException">the directory holds a checkpoint and overwrite is off.</exception>
    public static void Prepare(string outputDir, Plan plan, bool overwrite)
    {
        if (File.Exists(outputDir)) throw new OutputExistsException(outputDir, "is a file, not a directory");
        var finals = new List<string>();
        for (int f = 0; f < plan.Files.Count; f++) finals.Add(OutputFiles.Resolve(outputDir, plan.Files[f].RelativePath));
        // The layout's folders are created at commit; a link planted where one goes is refused now, before any writing.
        foreach (string folder in plan.Layout.Directories) OutputFiles.Resolve(outputDir, folder);
        string manifest = Path.Combine(outputDir, Manifest.FileName);
        var existing = finals.Append(manifest).Where(File.Exists).ToList();
        if (existing.Count > 0 && !overwrite)
            throw new OutputExistsException(outputDir,
                $"already holds a checkpoint ({string.Join(", ", existing.Take(3).Select(p => Path.GetRelativePath(outputDir, p)))}{(existing.Count > 3 ? $" and {existing.Count - 3} more" : "")}); pass --overwrite to replace it or choose another --output");
        if (overwrite && Directory.Exists(outputDir))
        {
            if (!File.Exists(manifest)) RefuseForeignCheckpoint(outputDir, finals);
            RemovePreviousOutputs(outputDir, manifest, finals);
            File.Delete(manifest);
            for (int f = 0; f < plan.Files.Count; f++)
            {
                if (plan.Files[f].IsCommitMarker && File.Exists(finals[f])) File.Delete(finals[f]);
            }
        }
        Directory.CreateDirectory(outputDir);
    }

    /// <summary>
    /// <c>--overwrite</c> onto a checkpoint ckptmpi did not write (no manifest says which files are its own): files
    /// this plan does not replace would stay beside the new ones, and loaders follow whatever index or rank file they
    /// find (an old <c>model.safetensors.index.json</c> beside a new single <c>model.safetensors</c> loads the old
    /// model; dp 4 -&gt; dp 2 leaves the rank 2 and 3 files). Those files are not ours to delete, so refuse and name them.
    /// </summary>
    private static void RefuseForeignCheckpoint(string outputDir, List<string> finals)
    {
        var ours = new HashSet<string>(finals, StringComparer.Ordinal);
        List<string> stale = LoaderFiles.Find(outputDir).Where(f => !ours.Contains(Path.GetFullPath(f))).ToList();
        if (stale.Count == 0) return;
        string names = string.Join(", ", stale.Take(5).Select(p => Path.GetRelativePath(outputDir, p)));
        throw new OutputExistsException(outputDir,
            $"--overwrite: the directory holds {stale.Count} checkpoint file(s) this conversion would not replace ({names}{(stale.Count > 5 ? ", ..." : "")}) "
            + $"and no {Manifest.FileName}, so ckptmpi did not write them and will not delete them; a loader would read them beside the new files. "
            + "Remove them, or choose an empty --output");
    }

    /// <summary>
    /// Files the previous manifest lists that this plan will not write (e.g. rank files of a larger dp size) would
    /// otherwise survive beside the new checkpoint and confuse its readers; only listed files are touched.
    /// </summary>
    private static void RemovePreviousOutputs(string outputDir, string manifest, List<string> finals)
    {
        if (!File.Exists(manifest)) return;
        Manifest previous;
        try { previous = Manifest.Read(outputDir); }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidDataException) { return; }
        var keep = new HashSet<string>(finals, StringComparer.Ordinal);
        foreach (OutputChecksum o in previous.Outputs)
        {
            string path;
            try { path = OutputFiles.Resolve(outputDir, o.Path); }
            catch (Exception e) when (e is InvalidOperationException or OutputExistsException) { continue; } // outside the directory, lexically or through a link: leave it alone
            var info = new FileInfo(path);
            if (!keep.Contains(path) && info.Exists && info.LinkTarget is null) info.Delete();
        }
    }
}
