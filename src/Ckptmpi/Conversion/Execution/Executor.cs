using System.Diagnostics;
using Ckptmpi.Conversion.Manifests;
using Ckptmpi.Conversion.Planning;
using Ckptmpi.Errors;
using Ckptmpi.Parallel;
using Ckptmpi.Parallel.Timeline;
using Serilog;

namespace Ckptmpi.Conversion.Execution;

/// <summary>
/// Runs a <see cref="Plan"/> on every rank with the commit protocol of docs/architecture.md: agree on the plan,
/// owners create pre-sized temporary files, every rank streams its chunks through buffers within <c>--max-buffer</c>
/// (split by <see cref="BufferBudget"/>: two halves in direct mode, so reading overlaps writing) and syncs, the
/// CRC runs are gathered to rank 0 (proving every byte was written), rank 0 patches, renames and writes the
/// commit markers last. Each step is a collective phase: a failure on any rank fails every rank with the same
/// message, and the temporary files are removed.
/// </summary>
public static class Executor
{
    /// <summary>The whole-file checksum in results and manifests: CRC-32 (IEEE 802.3, zlib's crc32), as 8 hex digits.</summary>
    public const string ChecksumAlgorithm = Manifest.OutputChecksumAlgorithm;

    /// <exception cref="RankFailedException">any rank failed; thrown on every rank with the same message.</exception>
    public static ExecutionResult Run(ICommunicator comm, Plan plan, string sourceRoot, string outputDir, ExecutionOptions options)
    {
        var clock = Stopwatch.StartNew();
        comm.RunPhase("plan check", () =>
        {
            if (plan.RankCount != comm.Size)
                throw new InvalidOperationException($"the plan is for {plan.RankCount} ranks but the job has {comm.Size}");
            if (plan.ChunkBytes > options.Budget.ChunkBytes)
                throw new InvalidOperationException($"the plan's chunks of {plan.ChunkBytes} bytes exceed the --max-buffer {options.MaxBuffer} split for {options.Io} I/O ({options.Budget.ChunkBytes})");
        });
        comm.AssertSameOnAllRanks(plan.Hash, "conversion plan");
        IExecutionHooks? hooks = options.Hooks;
        var ledger = new BufferLedger(options.Budget);
        using var outputs = new OutputFiles(outputDir, plan.Files);
        comm.RunPhase("prepare output", () =>
        {
            if (comm.Rank != 0) return;
            hooks?.Prepare(plan, outputs);
            OutputDirectory.Prepare(outputDir, plan, options.Overwrite);
        });

        using var sources = new SourceFiles(sourceRoot, plan.Sources);
        try
        {
            comm.RunPhase("create output files", () =>
            {
                hooks?.Open(comm.Rank, plan);
                for (int f = 0; f < plan.Files.Count; f++)
                {
                    if (plan.FileOwners[f] == comm.Rank) outputs.Create(f, keepExisting: hooks?.Resuming == true);
                }
            });

            List<RunCrc> runs = comm.RunPhase("write", () =>
            {
                var phase = Stopwatch.StartNew();
                List<RunCrc> mine = options.Io == IoMode.Direct || hooks?.Resuming == true
                    ? WriteDirect(plan.Ranks[comm.Rank], plan, sources, outputs, ledger, hooks)
                    : AggregateWriter.Write(comm, plan, sources, outputs, ledger, hooks);
                double written = phase.Elapsed.TotalSeconds;
                double syncStart = RankTimeline.Current?.Now ?? 0;
                outputs.FlushAll();
                RankTimeline.Current?.Record(Activities.Sync, syncStart);
                outputs.Close();
                Log.Debug("wrote {Bytes} bytes in {Write:0.00} s, fsync {Sync:0.00} s", plan.Ranks[comm.Rank].BytesWritten, written, phase.Elapsed.TotalSeconds - written);
                return mine;
            });

            byte[][] reports = comm.AllgatherBytes(RunCrc.Serialize(runs));
            List<OutputChecksum> files = comm.RunPhase("commit", () =>
                comm.Rank == 0 ? new Committer(plan, outputs, sources, ledger, hooks).Commit(reports.SelectMany(RunCrc.Deserialize)) : []);
            Log.Debug("buffers: at most {Peak} bytes held at once, --max-buffer {Max}", ledger.PeakBytes, options.MaxBuffer);
            return new ExecutionResult(files, clock.Elapsed.TotalSeconds, ledger.PeakBytes);
        }
        catch (RankFailedException)
        {
            outputs.Close();
            // A signal (scancel, walltime, Ctrl-C) stops the job resumably: the temporary files and the journal stay.
            if (hooks?.KeepPartialOutputOnFailure != true && !Interruption.Requested)
            {
                RemoveTemporaries(comm, plan, outputs);
                hooks?.Discard(comm.Rank);
            }
            throw;
        }
    }

    /// <summary>
    /// Direct mode: while one chunk is being written from one buffer, the next is read, cast and checksummed in the
    /// other, so a disk that throttles writes does not also stall the reads. One write is in flight at a time, and the
    /// journal hooks of a chunk run on that write's thread in order (before write, write, completed).
    /// </summary>
    internal static List<RunCrc> WriteDirect(RankPlan mine, Plan plan, SourceFiles sources, OutputFiles outputs, BufferLedger ledger, IExecutionHooks? hooks = null)
    {
        var runs = new List<RunCrc>();
        using var front = new ChunkBuffer(mine.PeakBuffer, ledger);
        using var back = new ChunkBuffer(mine.PeakBuffer, ledger);
        ChunkBuffer current = front, other = back;
        Task pending = Task.CompletedTask;
        var t = new double[4];
        var sw = Stopwatch.StartNew();
        RankTimeline? timeline = RankTimeline.Current;
        try
        {
            foreach (WorkItem item in mine.Items)
            foreach (Chunk chunk in item.Chunks)
            {
                Interruption.ThrowIfRequested(); // between pieces: everything journaled so far is reused by --resume
                Span<byte> span = current.Span;
                if (hooks is not null && hooks.TryReuse(chunk, outputs, span, runs)) continue;
                double start = timeline?.Now ?? 0;
                ChunkFiller.ReadSources(chunk, span, sources);
                start = timeline?.Record(Activities.Read, start) ?? 0;
                t[0] += sw.Elapsed.TotalSeconds; sw.Restart();
                ChunkFiller.Assemble(chunk, span, plan.Files[item.File]);
                t[1] += sw.Elapsed.TotalSeconds; sw.Restart();
                int before = runs.Count;
                ChunkFiller.Checksum(chunk, span, runs);
                List<RunCrc> chunkRuns = runs.GetRange(before, runs.Count - before);
                timeline?.Record(Activities.Transform, start);
                t[2] += sw.Elapsed.TotalSeconds; sw.Restart();
                pending.GetAwaiter().GetResult(); // the other half is free once the previous write is done
                t[3] += sw.Elapsed.TotalSeconds; sw.Restart();
                ChunkBuffer filled = current;
                pending = Task.Run(() =>
                {
                    hooks?.BeforeWrite(chunk, outputs);
                    double writeStart = timeline?.Now ?? 0;
                    ChunkFiller.Write(chunk, filled.Span, outputs);
                    timeline?.Record(Activities.Write, writeStart);
                    hooks?.Completed(chunk, chunkRuns, chunkRuns.Count);
                });
                (current, other) = (other, current);
            }
        }
        finally
        {
            // Never free a buffer a write is still using, even when this rank failed.
            try { pending.Wait(); } catch (AggregateException) when (pending.IsFaulted) { }
        }
        pending.GetAwaiter().GetResult();
        Log.Debug("direct: read {Read:0.00} s, assemble {Assemble:0.00} s, crc {Crc:0.00} s, waiting for writes {Write:0.00} s", t[0], t[1], t[2], t[3] + sw.Elapsed.TotalSeconds);
        return runs;
    }

    /// <summary>Each owner removes the temporary files it created; rank 0 also those of the commit markers. Best effort.</summary>
    private static void RemoveTemporaries(ICommunicator comm, Plan plan, OutputFiles outputs)
    {
        for (int f = 0; f < plan.Files.Count; f++)
        {
            bool mine = plan.FileOwners[f] == comm.Rank || (plan.Files[f].IsCommitMarker && comm.Rank == 0);
            if (!mine) continue;
            try { File.Delete(outputs.TempPath(f)); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
    }
}
