using Ckptmpi.Errors;

namespace Ckptmpi.Formats.NxD;

/// <summary>
/// Where an NxDT checkpoint's rank files are: the converter's output folder (with <c>model/</c>) or the <c>model/</c>
/// folder itself (what NxDT's converter takes as <c>--input_dir</c>), and which tp/pp ranks they hold.
/// </summary>
internal sealed record NxdCheckpointFiles(string ModelDir, int Tp, int Pp)
{
    /// <summary>The folder holding the rank files, or null when <paramref name="input"/> has none.</summary>
    public static string? ModelDirOf(string input)
    {
        if (!Directory.Exists(input)) return null;
        string nested = Path.Combine(input, NxdPaths.ModelFolder);
        if (HasRankFiles(nested)) return nested;
        return HasRankFiles(input) ? input : null;
    }

    /// <summary>The config.json beside the checkpoint: in the input folder, else beside <c>model/</c>.</summary>
    public static string DefaultConfig(string input, string modelDir)
    {
        string here = Path.Combine(input, Formats.ModelConfigFile.FileName);
        return File.Exists(here) ? here : Path.Combine(Path.GetDirectoryName(Path.GetFullPath(modelDir))!, Formats.ModelConfigFile.FileName);
    }

    private static bool HasRankFiles(string dir) =>
        Directory.Exists(dir) && Directory.EnumerateFiles(dir, "dp_rank_*_tp_rank_*_pp_rank_*.pt").Any(f => NxdPaths.TryParseRankFile(Path.GetFileName(f), out _, out _, out _));

    /// <summary>
    /// The tp/pp grid of data-parallel rank 0's files: the degrees given, else the largest ranks present plus one. Every
    /// (tp, pp) file must exist and none beyond the grid.
    /// </summary>
    /// <exception cref="CheckpointFormatException">a rank file is missing, or one lies outside the given degrees.</exception>
    public static NxdCheckpointFiles Scan(string modelDir, int? tpSize, int? ppSize)
    {
        var present = new HashSet<(int, int)>();
        foreach (string f in Directory.EnumerateFiles(modelDir, "*.pt"))
        {
            if (NxdPaths.TryParseRankFile(Path.GetFileName(f), out int dp, out int t, out int p) && dp == 0) present.Add((t, p));
        }
        if (present.Count == 0) throw new CheckpointFormatException(modelDir, null, "no dp_rank_00_tp_rank_TT_pp_rank_PP.pt files here; not an NxDT checkpoint's model folder");
        int tp = tpSize ?? present.Max(x => x.Item1) + 1, pp = ppSize ?? present.Max(x => x.Item2) + 1;
        foreach (var (t, p) in present)
        {
            if (t >= tp || p >= pp)
                throw new CheckpointFormatException(Path.Combine(modelDir, Path.GetFileName(NxdPaths.RankFile(t, p))), null, $"tp rank {t} / pp rank {p} lies outside --tp-size {tp} --pp-size {pp}; the checkpoint was written with other degrees");
        }
        for (int p = 0; p < pp; p++)
        for (int t = 0; t < tp; t++)
        {
            if (!present.Contains((t, p)))
                throw new CheckpointFormatException(Path.Combine(modelDir, Path.GetFileName(NxdPaths.RankFile(t, p))), null, $"missing: the shard of tp rank {t}, pp rank {p} of a tp {tp} x pp {pp} checkpoint is not there (copied incompletely?)");
        }
        return new NxdCheckpointFiles(modelDir, tp, pp);
    }

    public string PathOf(int tp, int pp) => Path.Combine(ModelDir, Path.GetFileName(NxdPaths.RankFile(tp, pp)));
}
