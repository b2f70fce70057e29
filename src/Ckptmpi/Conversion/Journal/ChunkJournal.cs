using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Ckptmpi.Conversion.Execution;
using Ckptmpi.Conversion.Manifests;
using Ckptmpi.Conversion.Planning;
using Ckptmpi.Errors;
using Ckptmpi.Tensors.Checksums;
using Serilog;

namespace Ckptmpi.Conversion.Journal;

/// <summary>
/// The resume journal of one rank (<c>--resume</c>, docs/architecture.md). Every piece (chunk) a rank writes is recorded as one
/// appended JSON line (file, offset, size, CRC-32 of each run), written through to the OS at once and fsynced at
/// least every <see cref="SyncInterval"/> and at the end. A rerun of the same command with
/// <c>--resume</c> skips exactly the pieces that are proven complete: journaled, and the temporary file still yields
/// the journaled CRCs when read back. Everything else is redone, and the commit then proceeds as in any run, so the
/// result is byte-identical to an uninterrupted run. The data itself is not fsynced per piece: a lost page fails its
/// CRC on resume and is rewritten, and the commit still fsyncs every file before any rename.
/// </summary>
internal sealed class ChunkJournal : IExecutionHooks, IDisposable
{
    private readonly string _outputDir;
    private readonly bool _resume;
    private readonly bool _overwrite;
    private Plan? _plan;
    private int _rank = -1;
    private FileStream? _stream;
    private Dictionary<(string File, long Start), JournalEntry> _entries = [];
    private int _written;
    private readonly Stopwatch _sinceSync = Stopwatch.StartNew();

    /// <summary>The longest a journal line stays unsynced (lost lines only cost a redo: pieces are proven by CRC anyway).</summary>
    public static readonly TimeSpan SyncInterval = TimeSpan.FromSeconds(1);

    public ChunkJournal(string outputDir, bool resume, bool overwrite, IReadOnlyList<InputFileFact>? inputs = null)
    {
        _outputDir = outputDir;
        _resume = resume;
        _overwrite = overwrite;
        _inputs = inputs ?? [];
    }

    private readonly IReadOnlyList<InputFileFact> _inputs;

    /// <summary>Pieces this rank skipped because the journal proved them complete.</summary>
    public int ReusedPieces { get; private set; }

    /// <summary>Pieces this rank wrote in this run.</summary>
    public int WrittenPieces => _written;

    public bool Resuming => _resume;

    /// <summary>A failed run is cleaned up: only a killed one leaves its journal, and that needs no code.</summary>
    public bool KeepPartialOutputOnFailure => false;

    /// <exception cref="OutputExistsException">the journal belongs to another plan, or there is nothing to resume, or an interrupted run is in the way.</exception>
    public void Prepare(Plan plan, OutputFiles outputs)
    {
        string dir = JournalPaths.Directory(_outputDir);
        bool exists = Directory.Exists(dir);
        if (exists && !_resume)
        {
            if (!_overwrite)
                throw new OutputExistsException(_outputDir, $"holds an interrupted conversion ({JournalPaths.DirectoryName}/); rerun the same command with --resume to finish it, or with --overwrite to start again");
            Directory.Delete(dir, recursive: true);
            exists = false;
        }
        if (exists && !File.Exists(JournalPaths.PlanFile(_outputDir)))
        {
            // plan.json is written before any piece (a collective phase lies between), so a run killed before it has
            // journaled nothing: start afresh. Journaled pieces without a plan prove nothing about what they were
            // computed from (another plan, other inputs): refuse rather than vouch for them.
            if (Directory.EnumerateFiles(dir, "rank-*.jsonl").Any(f => new FileInfo(f).Length > 0))
                throw new OutputExistsException(dir,
                    $"the journal of the interrupted conversion lists pieces but has no {JournalPaths.PlanFileName}, so none of them can be proven; rerun with --overwrite to start again");
            Directory.Delete(dir, recursive: true);
            exists = false;
        }
        if (exists)
        {
            JournalPlan saved = ReadPlan();
            // Inputs first: a changed input usually changes the plan too, and naming the file is the useful answer.
            InputIdentity.RequireUnchanged(saved.Inputs, _inputs, JournalPaths.PlanFile(_outputDir));
            if (saved.PlanHash != plan.Hash)
                throw new OutputExistsException(JournalPaths.PlanFile(_outputDir),
                    $"the interrupted conversion had plan {Short(saved.PlanHash)} ({saved.Ranks} ranks) but this command plans {Short(plan.Hash)} ({plan.RankCount} ranks): "
                    + "rerun the original command line with the same number of ranks, or use --overwrite to start again");
            RestoreInterruptedCommit(plan, outputs);
            return;
        }
        if (_resume && File.Exists(Path.Combine(_outputDir, Manifest.FileName)))
            throw new OutputExistsException(_outputDir, $"already holds a complete checkpoint ({Manifest.FileName}) and no journal: nothing to resume; check it with 'ckptmpi verify {_outputDir}'");
        // A fresh journal is started in Open, once the output directory has passed its checks.
    }

    /// <summary>
    /// A run killed during its commit left some files under their final names: move them back to their temporary
    /// names (their pieces are proven like any other), and remove the commit markers and manifest, which the commit
    /// rewrites last.
    /// </summary>
    private void RestoreInterruptedCommit(Plan plan, OutputFiles outputs)
    {
        File.Delete(Path.Combine(_outputDir, Manifest.FileName));
        for (int f = 0; f < plan.Files.Count; f++)
        {
            string final = outputs.FinalPath(f);
            if (!File.Exists(final)) continue;
            if (plan.Files[f].IsCommitMarker || File.Exists(outputs.TempPath(f))) File.Delete(final);
            else File.Move(final, outputs.TempPath(f));
        }
    }

    public void Open(int rank, Plan plan)
    {
        _rank = rank;
        _plan = plan;
        Directory.CreateDirectory(JournalPaths.Directory(_outputDir));
        // The journal folder and this rank's file must be ours, not links planted to send our lines elsewhere.
        OutputFiles.Resolve(_outputDir, Path.GetRelativePath(_outputDir, JournalPaths.RankFile(_outputDir, rank)));
        if (rank == 0 && !File.Exists(JournalPaths.PlanFile(_outputDir))) WritePlan(plan);
        string path = JournalPaths.RankFile(_outputDir, rank);
        if (_resume && File.Exists(path))
        {
            _entries = JournalJson.ReadEntries(path);
            Log.Debug("rank {Rank}: journal lists {Count} completed pieces", rank, _entries.Count);
        }
        _stream = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete);
    }

    public bool TryReuse(Chunk chunk, OutputFiles outputs, Span<byte> buffer, List<RunCrc> report)
    {
        if (_entries.Count == 0) return false;
        // A chunk that also writes other files (a quantization's scales) is reused only if every file it writes proves complete.
        var runs = new List<RunCrc>();
        if (!Proven(chunk.File, chunk.Start, chunk.Length, chunk.Crcs, outputs, buffer, runs)) return false;
        foreach (CompanionWrite c in chunk.Companions)
        {
            if (!Proven(c.File, c.Start, c.Length, c.Crcs, outputs, buffer, runs)) return false;
        }
        report.AddRange(runs);
        ReusedPieces++;
        return true;
    }

    /// <summary>Bytes <c>[start, start + length)</c> of output <paramref name="file"/> are journaled with these runs and still give their CRCs.</summary>
    private bool Proven(int file, long start, int length, CrcRun[] crcs, OutputFiles outputs, Span<byte> buffer, List<RunCrc> runs)
    {
        string path = _plan!.Files[file].RelativePath;
        if (!_entries.TryGetValue((path, start), out JournalEntry? entry) || entry.Length != length || entry.Runs.Count != crcs.Length)
            return false;
        for (int i = 0; i < crcs.Length; i++)
        {
            CrcRun run = crcs[i];
            JournalRun j = entry.Runs[i];
            if (j.Offset != run.FileOffset || j.Length != run.Length || j.Field != run.Field) return false;
        }

        // Proof: the bytes on disk still have the journaled CRCs.
        var handle = outputs.Writer(file);
        if (RandomAccess.GetLength(handle) != _plan.Files[file].Length) return false;
        Span<byte> bytes = buffer[..length];
        for (int done = 0; done < bytes.Length;)
        {
            int n = RandomAccess.Read(handle, bytes[done..], start + done);
            if (n <= 0) return false;
            done += n;
        }
        for (int i = 0; i < crcs.Length; i++)
        {
            CrcRun run = crcs[i];
            uint crc = Crc32.Hash(bytes.Slice((int)(run.FileOffset - start), run.Length));
            if (crc.ToString("x8") != entry.Runs[i].Crc) return false;
            runs.Add(new RunCrc(file, run.FileOffset, run.Length, run.Field, crc));
        }
        return true;
    }

    /// <summary>Nothing to record before the bytes are written: a piece counts only once <see cref="Completed"/> journals it.</summary>
    public void BeforeWrite(Chunk chunk, OutputFiles outputs)
    {
    }

    public void Completed(Chunk chunk, List<RunCrc> report, int runCount)
    {
        // One line per file the chunk wrote: its own runs, then each companion's (the runs name their file).
        List<RunCrc> mine = report.GetRange(report.Count - runCount, runCount);
        var lines = new List<(int File, long Start, int Length)> { (chunk.File, chunk.Start, chunk.Length) };
        lines.AddRange(chunk.Companions.Select(c => (c.File, c.Start, c.Length)));
        foreach (var (file, start, length) in lines)
        {
            JournalRun[] runs = mine.Where(r => chunk.Companions.Length == 0 || r.File == file)
                .Select(r => new JournalRun(r.Offset, r.Length, r.Field, r.Crc.ToString("x8"))).ToArray();
            var entry = new JournalEntry(_plan!.Files[file].RelativePath, start, length, runs);
            _stream!.Write(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(entry, JournalJson.Options) + "\n"));
        }
        // Every line reaches the OS at once (a killed rank loses nothing); fsync is grouped: on ext4 (data=ordered) each
        // fsync also forces out the output data written so far, which doubled the write time when done per piece.
        bool sync = _sinceSync.Elapsed >= SyncInterval;
        _stream!.Flush(flushToDisk: sync);
        if (sync) _sinceSync.Restart();
        _written++;
    }

    /// <summary>Renames need no record: --resume finds them on disk (<see cref="RestoreInterruptedCommit"/>).</summary>
    public void BeforeRename(int file)
    {
    }

    public void Discard(int rank)
    {
        Dispose();
        try
        {
            if (rank == 0) Directory.Delete(JournalPaths.Directory(_outputDir), recursive: true);
            else File.Delete(JournalPaths.RankFile(_outputDir, rank));
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    /// <summary>Rank 0, after the manifest is written: the conversion is complete and the journal has served its purpose.</summary>
    public void Remove()
    {
        Dispose();
        string dir = JournalPaths.Directory(_outputDir);
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
    }

    public void Dispose()
    {
        if (_stream is not null)
        {
            try { _stream.Flush(flushToDisk: true); }
            catch (IOException) { } // a full disk: the lines not synced are simply redone on resume
        }
        _stream?.Dispose();
        _stream = null;
    }

    private static string Short(string? hash) => hash is null ? "(none)" : hash[..Math.Min(16, hash.Length)];

    private JournalPlan ReadPlan()
    {
        string path = JournalPaths.PlanFile(_outputDir);
        try
        {
            return JsonSerializer.Deserialize<JournalPlan>(Tensors.InputFiles.ReadText(path, 64 << 20), JournalJson.Options)
                   ?? throw new JsonException("empty");
        }
        catch (Exception e) when (e is JsonException or CheckpointFormatException)
        {
            throw new OutputExistsException(path, $"the journal of the interrupted conversion is unreadable ({e.Message}); use --overwrite to start again");
        }
    }

    private void WritePlan(Plan plan)
    {
        string path = JournalPaths.PlanFile(_outputDir);
        var record = new JournalPlan(plan.Hash, plan.RankCount, plan.Files.Count, Environment.GetCommandLineArgs(), _inputs);
        using (FileStream stream = Tensors.OwnFiles.CreateNew(path + ".tmp"))
        {
            JsonSerializer.Serialize(stream, record, JournalJson.Options);
            stream.Flush(flushToDisk: true);
        }
        File.Move(path + ".tmp", path, overwrite: true);
    }
}
