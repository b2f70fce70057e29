using System.Text.Json;
using Ckptmpi.Conversion.Execution;
using Ckptmpi.Conversion.Journal;
using Ckptmpi.Conversion.Manifests;
using Ckptmpi.Errors;
using Ckptmpi.Parallel;
using Ckptmpi.Tensors.Checksums;

namespace Ckptmpi.Conversion.Verify;

/// <summary>
/// <c>ckptmpi verify OUT_DIR</c>: every file of <c>ckptmpi-manifest.json</c> against its size and CRC-32,
/// and no file the manifest does not list. Rank 0 reads the manifest and lists the directory (one rank touches the
/// metadata server); the bytes are cut into ranges of at most <see cref="RangeBytes"/>, balanced over the ranks by
/// bytes, each streamed through one buffer; the ranges' CRCs are gathered and combined per file
/// (<see cref="Crc32.Combine"/>), so a single huge file is still read by every rank in parallel.
/// </summary>
public static class FileVerifier
{
    /// <summary>Largest range of one file given to one rank.</summary>
    public const long RangeBytes = 64L << 20;

    /// <summary>The outcome: the problems (the same sorted list on every rank), and what was checked.</summary>
    public sealed record Result(IReadOnlyList<VerifyProblem> Problems, int Files, long Bytes, double Seconds);

    /// <param name="progress">
    /// where rank 0 shows its own share of the bytes (ranges are balanced by bytes, so it stands for the job; verify
    /// writes nothing a rank could report through, and a collective per range would cost more than it shows).
    /// </param>
    /// <exception cref="Errors.RankFailedException">the manifest is missing or unreadable (on every rank).</exception>
    public static Result Run(ICommunicator comm, string outputDir, int bufferBytes = 8 << 20, long rangeBytes = RangeBytes, IProgressReporter? progress = null)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        byte[]? survey = comm.RunPhase("read manifest", () => comm.Rank == 0 ? JsonSerializer.SerializeToUtf8Bytes(TakeSurvey(outputDir)) : null);
        Survey s = JsonSerializer.Deserialize<Survey>(comm.BcastBytes(survey, root: 0))!;

        List<Range> ranges = Split(s.Files, comm.Size, rangeBytes);
        List<RangeCrc> mine = comm.RunPhase("checksum files", () =>
        {
            var results = new List<RangeCrc>();
            byte[] buffer = new byte[Math.Max(4096, bufferBytes)];
            List<Range> own = ranges.Where(r => r.Rank == comm.Rank).ToList();
            string name = comm.Size == 1 ? "verify" : $"verify (rank 0's share of {comm.Size} ranks)";
            using IProgressPhase phase = (comm.Rank == 0 ? progress : null)?.BeginPhase(name, own.Sum(r => r.Length)) ?? NullProgressReporter.Instance;
            foreach (Range r in own) results.Add(Checksum(outputDir, s.Files[r.File], r, buffer, phase));
            return results;
        });
        RangeCrc[] all = comm.AllgatherObjects(mine).SelectMany(x => x).ToArray();

        var problems = new List<VerifyProblem>(s.Problems);
        foreach (var group in all.GroupBy(r => r.File).OrderBy(g => g.Key))
        {
            SurveyFile f = s.Files[group.Key];
            if (group.FirstOrDefault(r => r.Error is not null) is RangeCrc bad)
            {
                problems.Add(new VerifyProblem(VerifyProblemKind.Unreadable, f.Path, bad.Error!));
                continue;
            }
            uint crc = 0;
            foreach (RangeCrc r in group.OrderBy(r => r.Start)) crc = Crc32.Combine(crc, r.Crc, r.Length);
            string hex = crc.ToString("x8");
            if (hex != f.Checksum) problems.Add(new VerifyProblem(VerifyProblemKind.Checksum, f.Path, $"crc32 {hex}, manifest says {f.Checksum}"));
        }
        problems.Sort((a, b) => string.CompareOrdinal(a.Subject, b.Subject) is int c and not 0 ? c : a.Kind.CompareTo(b.Kind));
        return new Result(problems, s.Listed, s.Files.Sum(f => f.Size), clock.Elapsed.TotalSeconds);
    }

    /// <summary>Rank 0: the manifest, each listed file's presence and size, and the files nobody listed.</summary>
    private static Survey TakeSurvey(string outputDir)
    {
        if (!Directory.Exists(outputDir)) throw new DirectoryNotFoundException($"{outputDir}: no such directory");
        string manifestPath = Path.Combine(outputDir, Manifest.FileName);
        if (!File.Exists(manifestPath))
            throw new FileNotFoundException($"{manifestPath}: no manifest; ckptmpi verify checks checkpoints written by ckptmpi convert (use --against to compare values without one)", manifestPath);
        Manifest manifest;
        try { manifest = Manifest.Read(outputDir); }
        catch (Exception e) when (e is JsonException or InvalidDataException) { throw new CheckpointFormatException(manifestPath, null, $"not a ckptmpi manifest: {e.Message}"); }
        if (manifest.ChecksumAlgorithm != Executor.ChecksumAlgorithm)
            throw new UnsupportedCheckpointException(manifestPath, $"checksum algorithm '{manifest.ChecksumAlgorithm}' is not supported; supported: {Executor.ChecksumAlgorithm}");

        var problems = new List<VerifyProblem>();
        var files = new List<SurveyFile>();
        // The run report is written beside the manifest but is not part of the checkpoint.
        var listed = new HashSet<string>(StringComparer.Ordinal) { Manifest.FileName, Report.ReportFiles.HtmlName, Report.ReportFiles.JsonName };
        foreach (OutputChecksum o in manifest.Outputs)
        {
            string path;
            try { path = OutputFiles.Resolve(outputDir, o.Path); }
            catch (Exception e) when (e is InvalidOperationException or OutputExistsException) { problems.Add(new VerifyProblem(VerifyProblemKind.Unreadable, o.Path, e.Message)); continue; }
            listed.Add(Path.GetRelativePath(outputDir, path).Replace(Path.DirectorySeparatorChar, '/'));
            var info = new FileInfo(path);
            if (!info.Exists) problems.Add(new VerifyProblem(VerifyProblemKind.Missing, o.Path, $"listed in the manifest ({o.Size} bytes) but not in {outputDir}"));
            else if (info.Length != o.Size) problems.Add(new VerifyProblem(VerifyProblemKind.Size, o.Path, $"{info.Length} bytes, manifest says {o.Size}{(info.Length < o.Size ? " (truncated)" : "")}"));
            else files.Add(new SurveyFile(o.Path, o.Size, o.Checksum));
        }
        foreach (string file in Directory.EnumerateFiles(outputDir, "*", SearchOption.AllDirectories))
        {
            string rel = Path.GetRelativePath(outputDir, file).Replace(Path.DirectorySeparatorChar, '/');
            if (listed.Contains(rel)) continue;
            string why = rel.StartsWith(JournalPaths.DirectoryName + "/", StringComparison.Ordinal) ? " (the journal of an unfinished convert --resume)"
                : rel.EndsWith(OutputFiles.TempSuffix, StringComparison.Ordinal) ? " (a temporary file of an interrupted conversion)" : "";
            problems.Add(new VerifyProblem(VerifyProblemKind.Extra, rel, $"{new FileInfo(file).Length} bytes, not listed in the manifest{why}"));
        }
        return new Survey(files, problems, manifest.Outputs.Count);
    }

    /// <summary>Cuts the files into ranges and deals them to ranks, largest first to the least loaded (deterministic on every rank).</summary>
    private static List<Range> Split(IReadOnlyList<SurveyFile> files, int ranks, long rangeBytes)
    {
        var ranges = new List<Range>();
        for (int f = 0; f < files.Count; f++)
        {
            long size = files[f].Size;
            if (size == 0) ranges.Add(new Range(f, 0, 0, 0));
            for (long at = 0; at < size; at += rangeBytes) ranges.Add(new Range(f, at, Math.Min(rangeBytes, size - at), 0));
        }
        var load = new long[ranks];
        var dealt = new List<Range>(ranges.Count);
        foreach (Range r in ranges.OrderByDescending(r => r.Length).ThenBy(r => r.File).ThenBy(r => r.Start))
        {
            int rank = Array.IndexOf(load, load.Min());
            load[rank] += Math.Max(r.Length, 1);
            dealt.Add(r with { Rank = rank });
        }
        return dealt;
    }

    private static RangeCrc Checksum(string outputDir, SurveyFile file, Range r, byte[] buffer, IProgressPhase phase)
    {
        try
        {
            using var h = File.OpenHandle(OutputFiles.Resolve(outputDir, file.Path));
            uint crc = 0;
            for (long at = r.Start, end = r.Start + r.Length; at < end;)
            {
                int n = RandomAccess.Read(h, buffer.AsSpan(0, (int)Math.Min(buffer.Length, end - at)), at);
                if (n <= 0) return new RangeCrc(r.File, r.Start, r.Length, 0, $"ends at byte {at} while reading, manifest says {file.Size} bytes");
                crc = Crc32.Append(crc, buffer.AsSpan(0, n));
                at += n;
                phase.Advance(n);
            }
            return new RangeCrc(r.File, r.Start, r.Length, crc, null);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return new RangeCrc(r.File, r.Start, r.Length, 0, e.Message);
        }
    }

    private sealed record SurveyFile(string Path, long Size, string Checksum);

    private sealed record Survey(List<SurveyFile> Files, List<VerifyProblem> Problems, int Listed);

    private sealed record Range(int File, long Start, long Length, int Rank);

    private sealed record RangeCrc(int File, long Start, long Length, uint Crc, string? Error);
}
