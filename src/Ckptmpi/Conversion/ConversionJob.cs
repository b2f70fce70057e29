using Ckptmpi.Conversion.Execution;
using Ckptmpi.Conversion.Journal;
using Ckptmpi.Conversion.Manifests;
using Ckptmpi.Conversion.Planning;
using Ckptmpi.Errors;
using Ckptmpi.Parallel;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Conversion;

/// <summary>
/// One conversion on every rank, as ARCHITECTURE.md runs it: rank 0 reads the source metadata and broadcasts it;
/// every rank builds the layout and the plan (and all agree on its hash); dry runs stop there; otherwise every
/// rank executes its share, rank 0 commits, then writes the manifest last.
/// </summary>
public static class ConversionJob
{
    /// <summary>What a run produced: the plan summary (and, on rank 0 after a real run, the committed files).</summary>
    public sealed record Outcome(PlanSummary Plan, ExecutionResult? Execution, double PlanSeconds);

    /// <summary>How often rank 0 reads the journals for the progress display.</summary>
    public static readonly TimeSpan ProgressInterval = TimeSpan.FromSeconds(1);

    /// <param name="progress">where rank 0 shows the bytes written by all ranks (<see cref="JournalProgress"/>); null: nowhere.</param>
    public static Outcome Run(ICommunicator comm, ConvertRequest request, IProgressReporter? progress = null) =>
        Run(comm, request, journal => journal, progress);

    /// <summary>
    /// The same, with the executor told about phases and chunks through <paramref name="hooks"/> wrapped around the
    /// resume journal: how an in-process caller (the tests' fault injection) acts at those points without the
    /// program itself carrying any way to fail on purpose.
    /// </summary>
    internal static Outcome Run(ICommunicator comm, ConvertRequest request, Func<IExecutionHooks, IExecutionHooks> hooks, IProgressReporter? progress = null)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        FormatRegistry.Reader reader = FormatRegistry.ReaderFor(request.From);
        FormatRegistry.Writer writer = FormatRegistry.WriterFor(request.To);

        byte[]? message = comm.RunPhase("read source metadata", () => comm.Rank == 0 ? ReadInputs(reader, request).Serialize() : null);
        JobInputs inputs = JobInputs.Deserialize(comm.BcastBytes(message, root: 0));

        var planClock = System.Diagnostics.Stopwatch.StartNew();
        int ranks = request.DryRun && request.PlanRanks is int n ? n : comm.Size;
        Plan plan = comm.RunPhase("plan", () => BuildPlan(inputs, request, writer, ranks));
        double planSeconds = planClock.Elapsed.TotalSeconds;
        comm.AssertSameOnAllRanks(plan.Hash, "conversion plan");
        PlanSummary summary = plan.Summarize();
        if (request.DryRun) return new Outcome(summary, null, planSeconds);

        using var journal = new ChunkJournal(request.Output, request.Resume, request.Overwrite);
        using JournalProgress? watch = comm.Rank == 0 && progress is not null
            ? new JournalProgress(request.Output, plan.RankCount, plan.Ranks.Sum(r => r.BytesWritten), progress, ProgressInterval)
            : null;
        ExecutionResult result = Executor.Run(comm, plan, inputs.Catalog.Root, request.Output,
                                              new ExecutionOptions(request.Overwrite, request.Io, request.MaxBuffer) { Hooks = hooks(journal) });
        watch?.Dispose(); // the last look, before rank 0 removes the journals
        // Every rank closes its journal before rank 0 removes the directory (the reduction orders the two; on NFS an
        // open file in a removed directory would leave a .nfs placeholder behind).
        journal.Dispose();
        long reused = comm.AllreduceSum(journal.ReusedPieces);
        long written = comm.AllreduceSum(journal.WrittenPieces);
        if (request.Resume && comm.Rank == 0)
            Serilog.Log.Information("--resume: reused {Pieces} journaled pieces proven by their CRC-32 and wrote the rest ({Written})", reused, written);
        comm.RunPhase("write manifest", () =>
        {
            if (comm.Rank != 0) return;
            new Manifest
            {
                Version = Manifest.ToolVersion,
                CommandLine = request.CommandLine,
                CreatedUtc = DateTime.UtcNow,
                From = request.From,
                To = request.To,
                Io = request.Io.ToString().ToLowerInvariant(),
                Inputs = inputs.Facts,
                Outputs = result.Files,
                Plan = summary,
                WallSeconds = Math.Round(clock.Elapsed.TotalSeconds, 3),
            }.Write(request.Output);
            journal.Remove(); // only now: a crash before this line leaves a journal that --resume finishes
        });
        return new Outcome(summary, result, planSeconds);
    }

    /// <summary>Rank 0: the reader's metadata plus the --ds-config text, so no other rank opens a file before planning.</summary>
    public static JobInputs ReadInputs(FormatRegistry.Reader reader, ConvertRequest request)
    {
        JobInputs inputs = reader.Open(request);
        if (request.DsConfig is null) return inputs;
        var side = new Dictionary<string, string>(inputs.SideFiles) { [FormatRegistry.DsConfigSideFile] = File.ReadAllText(request.DsConfig) };
        return new JobInputs(inputs.Catalog, side, [.. inputs.Facts, InputFileFact.Of(request.DsConfig)]);
    }

    /// <summary>The layout and plan every rank computes from the broadcast inputs (also what <c>--dry-run</c> prints).</summary>
    public static Plan BuildPlan(JobInputs inputs, ConvertRequest request, FormatRegistry.Writer writer, int ranks)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        OutputLayout layout;
        try
        {
            layout = writer.Layout(inputs, request);
        }
        catch (ArgumentException e)
        {
            // The writer refuses these options for this model (stage, dp size, ds_config values): bad input, not a bug.
            throw new UnsupportedCheckpointException(request.Input, $"cannot write {request.To}: {e.Message}", e);
        }
        Serilog.Log.Debug("layout of {Files} files by the {Writer} writer in {Seconds:0.000} s", layout.Files.Count, writer.Name, clock.Elapsed.TotalSeconds);
        BufferBudget budget = new ExecutionOptions(Io: request.Io, MaxBuffer: request.MaxBuffer).Budget;
        return Planner.Build(layout, inputs.Catalog, new PlanOptions(ranks, budget.ChunkBytes, writer.ConsumesEverything));
    }
}
