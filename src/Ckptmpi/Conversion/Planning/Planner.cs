using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Conversion.Planning;

/// <summary>
/// Turns an <see cref="OutputLayout"/> and a <see cref="SourceCatalog"/> into a <see cref="Plan"/>: pure, no I/O,
/// deterministic (every rank computes the same plan). Files are balanced over ranks by bytes written with
/// greedy longest-processing-time; when that leaves a rank more than <see cref="PlanOptions.TargetBalance"/>
/// above the mean, files larger than a fraction of the mean share are split into byte ranges written by
/// different ranks at their offsets. Commit markers are left out of the balance: rank 0 writes them last.
/// </summary>
public static class Planner
{
    /// <summary>Finer and finer splits tried, as divisors of the mean per-rank share.</summary>
    private static readonly int[] SplitDivisors = [0, 1, 2, 4, 8, 16, 32];

    /// <exception cref="ArgumentOutOfRangeException">rank count or buffer out of range.</exception>
    /// <exception cref="Ckptmpi.Errors.CheckpointFormatException">the catalog stores a tensor's elements twice or not at all.</exception>
    /// <exception cref="Ckptmpi.Errors.UnsupportedCheckpointException">the layout needs a tensor, span or cast the source cannot give.</exception>
    public static Plan Build(OutputLayout layout, SourceCatalog catalog, PlanOptions options)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(options.RankCount, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.ChunkBytes, BufferBudget.MinChunkBytes);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(options.ChunkBytes, BufferBudget.Maximum);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        PlanValidator.Validate(layout, catalog, options.RequireAllSourceTensorsConsumed, options.Redundant);
        double tValidate = clock.Elapsed.TotalSeconds;

        var sources = new SourceIndex(catalog);
        IReadOnlyList<OutputFile> files = layout.Files;
        var marks = files.Select(f => new CrcMarks(f)).ToArray();
        int[][] companions = CompanionFiles.Of(files);
        int target = BufferBudget.TargetChunkBytes(layout.TotalBytes, (int)options.ChunkBytes);
        var builder = new ChunkBuilder(files, sources, marks, (int)options.ChunkBytes, target, companions);

        double tSetup = clock.Elapsed.TotalSeconds;
        List<(int File, ByteRange Range)>[] assignment = Balance(files, options.RankCount, options.TargetBalance);
        double tBalance = clock.Elapsed.TotalSeconds;
        var owners = Enumerable.Repeat(-1, files.Count).ToArray();
        var ranks = new RankPlan[options.RankCount];
        // Ranks' work items are independent (a chunk depends only on its file and range, and each file's start belongs to
        // one rank), so they are built in parallel, one builder per thread (a builder reuses its lists and caches). An
        // error is that of the lowest rank, so every process reports the same one whatever the threads' timing.
        var errors = new Exception?[ranks.Length];
        ChunkBuilder NewBuilder() => new(files, sources, marks, (int)options.ChunkBytes, target, companions);
        System.Threading.Tasks.Parallel.For(0, ranks.Length, NewBuilder,
            (r, _, local) =>
            {
                try { ranks[r] = BuildRank(r, assignment[r], local, owners); }
                catch (Exception e)
                {
                    errors[r] = e;
                    return NewBuilder(); // the failed one may hold a half-built chunk
                }
                return local;
            },
            _ => { });
        if (Array.Find(errors, e => e is not null) is Exception first) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(first).Throw();

        var commitItems = new List<WorkItem>();
        for (int f = 0; f < files.Count; f++)
        {
            if (files[f].IsCommitMarker) commitItems.Add(builder.Build(f, new ByteRange(0, files[f].Length)));
        }
        double tChunks = clock.Elapsed.TotalSeconds;
        ProveCoverage(files, ranks, commitItems);
        double tCoverage = clock.Elapsed.TotalSeconds;

        var slots = marks.Select(m => m.Slots).ToArray();
        string hash = PlanHasher.Hash(files, sources.Files, (int)options.ChunkBytes, ranks, commitItems);
        // Where a plan's time goes, for --verbose: at 405B the layout has 10^5 files and each phase is linear in them.
        Serilog.Log.Debug("plan: validate {V:0.000} s, index {S:0.000} s, balance {B:0.000} s, chunks {C:0.000} s, coverage {P:0.000} s, hash {H:0.000} s",
            tValidate, tSetup - tValidate, tBalance - tSetup, tChunks - tBalance, tCoverage - tChunks, clock.Elapsed.TotalSeconds - tCoverage);
        return new Plan(layout, sources.Files, (int)options.ChunkBytes, ranks, commitItems, owners, slots, hash);
    }

    /// <summary>One rank's work items, in file and offset order; marks the files whose first byte it writes.</summary>
    private static RankPlan BuildRank(int r, List<(int File, ByteRange Range)> assigned, ChunkBuilder builder, int[] owners)
    {
        var items = new List<WorkItem>();
        foreach ((int file, ByteRange range) in assigned.OrderBy(p => p.File).ThenBy(p => p.Range.Start))
        {
            if (range.Start == 0) owners[file] = r;
            WorkItem item = builder.Build(file, range);
            // A file computed in another file's pass is created by the rank that writes it.
            foreach (Chunk c in item.Chunks)
            foreach (CompanionWrite w in c.Companions)
                if (w.Start == 0) owners[w.File] = r;
            items.Add(item);
        }
        return new RankPlan(r, items);
    }

    /// <summary>
    /// LPT over whole files first; if the heaviest rank is above the target, split files longer than
    /// mean/k into about-equal ranges (k = 1, 2, 4, ...) and keep the best balance found.
    /// </summary>
    internal static List<(int File, ByteRange Range)>[] Balance(IReadOnlyList<OutputFile> files, int rankCount, double target)
    {
        long total = files.Where(Balanced).Sum(f => f.Length);
        double mean = Math.Max(1.0, (double)total / rankCount);
        List<(int, ByteRange)>[]? best = null;
        double bestBalance = double.MaxValue;
        foreach (int k in SplitDivisors)
        {
            long maxPiece = k == 0 ? long.MaxValue : Math.Max(1L << 20, (long)Math.Ceiling(mean / k));
            var pieces = new List<(int File, ByteRange Range)>();
            for (int f = 0; f < files.Count; f++)
            {
                if (Balanced(files[f])) pieces.AddRange(Split(files[f], f, maxPiece));
            }
            var (assignment, max) = Lpt(pieces, rankCount);
            double balance = total == 0 ? 1.0 : max / mean;
            if (balance < bestBalance - 1e-9) { best = assignment; bestBalance = balance; }
            if (balance <= target) break;
        }
        return best!;
    }

    /// <summary>Commit markers are written last by rank 0, and a file written with another by that file's chunks: neither is balanced.</summary>
    private static bool Balanced(OutputFile f) => !f.IsCommitMarker && f.WrittenWith is null;

    private static IEnumerable<(int, ByteRange)> Split(OutputFile file, int index, long maxPiece)
    {
        if (file.Length <= maxPiece)
        {
            yield return (index, new ByteRange(0, file.Length));
            yield break;
        }
        long count = (file.Length + maxPiece - 1) / maxPiece;
        long start = 0;
        for (long i = 1; i <= count; i++)
        {
            // Split points on 4 KiB boundaries (page-aligned writes), moved back to an element boundary inside a tensor.
            long end = i == count ? file.Length : Segments.SnapDown(file.Segments, file.Length / count * i / 4096 * 4096);
            if (end <= start) continue;
            yield return (index, new ByteRange(start, end));
            start = end;
        }
    }

    private static (List<(int, ByteRange)>[] Assignment, long Max) Lpt(List<(int File, ByteRange Range)> pieces, int rankCount)
    {
        var assignment = new List<(int, ByteRange)>[rankCount];
        for (int r = 0; r < rankCount; r++) assignment[r] = [];
        var load = new PriorityQueue<int, (long Load, int Rank)>();
        for (int r = 0; r < rankCount; r++) load.Enqueue(r, (0, r));
        foreach (var piece in pieces.OrderByDescending(p => p.Range.Length).ThenBy(p => p.File).ThenBy(p => p.Range.Start))
        {
            load.TryDequeue(out int rank, out var current);
            assignment[rank].Add(piece);
            load.Enqueue(rank, (current.Load + piece.Range.Length, rank));
        }
        long max = 0;
        while (load.TryDequeue(out _, out var l)) max = Math.Max(max, l.Load);
        return (assignment, max);
    }

    /// <summary>Every byte of every file is written by exactly one chunk: a bug here must never reach the disk.</summary>
    private static void ProveCoverage(IReadOnlyList<OutputFile> files, RankPlan[] ranks, List<WorkItem> commitItems)
    {
        // One array of every write, sorted by file then offset (no list per file: a 405B layout has 10^5 files).
        var writes = new List<(int File, long Start, long End)>();
        foreach (WorkItem item in ranks.SelectMany(r => r.Items).Concat(commitItems))
        foreach (Chunk c in item.Chunks)
        {
            writes.Add((item.File, c.Start, c.End));
            foreach (CompanionWrite w in c.Companions) writes.Add((w.File, w.Start, w.End));
        }
        writes.Sort();
        int next = 0;
        for (int f = 0; f < files.Count; f++)
        {
            long at = 0;
            for (; next < writes.Count && writes[next].File == f; next++)
            {
                var (_, start, end) = writes[next];
                if (start != at) throw new InvalidOperationException($"plan bug: {files[f].RelativePath} byte {Math.Min(start, at)} is written {(start > at ? "by no rank" : "twice")}");
                at = end;
            }
            if (at != files[f].Length) throw new InvalidOperationException($"plan bug: {files[f].RelativePath} is written up to {at} of {files[f].Length} bytes");
        }
    }
}
