using Ckptmpi.Conversion.Execution;
using Ckptmpi.Conversion.Journal;
using Ckptmpi.Conversion.Manifests;
using Ckptmpi.Conversion.Planning;
using Ckptmpi.Errors;
using Ckptmpi.Parallel;
using Ckptmpi.Parallel.Timeline;
using Ckptmpi.Conversion.Report;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Conversion;

/// <summary>
/// One conversion on every rank, as docs/architecture.md describes it: rank 0 reads the source metadata and broadcasts it;
/// every rank builds the layout and the plan (and all agree on its hash); dry runs stop there; otherwise every
/// rank executes its share, rank 0 commits, then writes the manifest last.
/// </summary>
public static class ConversionJob
{
    /// <summary>What a run produced: the plan summary (and, on rank 0 after a real run, the committed files).</summary>
    public sealed record Outcome(PlanSummary Plan, ExecutionResult? Execution, double PlanSeconds)
    {
        /// <summary>The run report's HTML file, on rank 0 when one was written.</summary>
        public string? ReportPath { get; init; }
    }

    public static Outcome Run(ICommunicator comm, ConvertRequest request)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        // --no-report records nothing either, so a benchmark can measure what the report costs.
        var timeline = new RankTimeline(clock);
        RankTimeline.Current = request.NoReport ? null : timeline;
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
        if (comm.Rank == 0) WarnAboutTinyFiles(plan);
        if (request.DryRun)
        {
            string? predicted = comm.Rank == 0 && request.Report is not null && !request.NoReport
                ? RunReports.WritePrediction(request, inputs, summary, planSeconds, comm.Implementation) : null;
            return new Outcome(summary, null, planSeconds) { ReportPath = predicted };
        }

        using var journal = new ChunkJournal(request.Output, request.Resume, request.Overwrite, request.Faults ?? JournalFaults.FromEnvironment(), inputs.Facts);
        string? striping = null;
        OutputLock? outputLock = comm.RunPhase("lock output", () =>
        {
            if (comm.Rank != 0) return null;
            OutputLock taken = OutputLock.Acquire(request.Output, request.Resume || request.Overwrite, request.CommandLine);
            striping = request.Striping.Apply(request.Output); // before any output file exists: they inherit it
            return taken;
        });
        bool crashed = false;
        try
        {
            Outcome outcome = Execute(comm, request, inputs, plan, summary, journal, clock, planSeconds);
            return request.NoReport ? outcome : outcome with { ReportPath = RunReports.WriteRun(comm, timeline, request, inputs, summary, planSeconds, outcome.Execution!, clock, striping) };
        }
        catch (RankFailedException) when (journal.KeepPartialOutputOnFailure)
        {
            crashed = true; // a simulated crash leaves the lock behind, as a killed job does
            outputLock?.Abandon();
            throw;
        }
        finally
        {
            // A finished or cleanly failed job is over: the next one may start.
            if (!crashed) outputLock?.Release();
        }
    }

    private static Outcome Execute(ICommunicator comm, ConvertRequest request, JobInputs inputs, Plan plan, PlanSummary summary,
                                   ChunkJournal journal, System.Diagnostics.Stopwatch clock, double planSeconds)
    {
        ExecutionResult result = Executor.Run(comm, plan, inputs.Catalog.Root, request.Output,
                                              new ExecutionOptions(request.Overwrite, request.Io) { Hooks = journal });
        // Every rank closes its journal before rank 0 removes the directory (the reduction orders the two; on NFS an
        // open file in a removed directory would leave a .nfs placeholder behind).
        journal.Dispose();
        long reused = comm.AllreduceSum(journal.ReusedPieces);
        if (request.Resume && comm.Rank == 0)
            Serilog.Log.Information("--resume: reused {Pieces} journaled pieces proven by their CRC-32 and wrote the rest", reused);
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

    /// <summary>
    /// A training layout far wider than the model (dp 100,000 for a 100k-parameter model) makes thousands of almost
    /// empty files: legal, but almost certainly a mistake in the numbers, and slow on a parallel filesystem.
    /// </summary>
    private static void WarnAboutTinyFiles(Plan plan)
    {
        int files = plan.Files.Count;
        long bytes = plan.Files.Sum(f => f.Length);
        if (files >= 1000 && bytes / files < 64 << 10)
            Serilog.Log.Warning("the output is {Files} files of {Average} on average: the target layout cuts this model into almost empty pieces; check --dp-size and the other sizes",
                                files, Conversion.ByteSize.Format(bytes / files));
    }

    /// <summary>Rank 0: the reader's metadata plus the --ds-config text, so no other rank opens a file before planning.</summary>
    public static JobInputs ReadInputs(FormatRegistry.Reader reader, ConvertRequest request)
    {
        JobInputs inputs = reader.Open(request);
        if (request.DsConfig is null) return inputs;
        var side = new Dictionary<string, string>(inputs.SideFiles) { [FormatRegistry.DsConfigSideFile] = Tensors.InputFiles.ReadText(request.DsConfig) };
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
        long budget = request.Io == IoMode.Aggregate ? Executor.AggregateChunkBudget(request.MaxBuffer) : Executor.DirectChunkBudget(request.MaxBuffer);
        return Planner.Build(layout, inputs.Catalog, new PlanOptions(ranks, budget, writer.ConsumesEverything));
    }
}
