using Ckptmpi.Conversion.Execution;
using Ckptmpi.Conversion.Journal;
using Ckptmpi.Conversion.Manifests;
using Ckptmpi.Conversion.Planning;
using Ckptmpi.Conversion.Report;
using Ckptmpi.Errors;
using Ckptmpi.Formats;
using Ckptmpi.Parallel;
using Ckptmpi.Parallel.Timeline;

namespace Ckptmpi.Conversion;

/// <summary>
/// One conversion on every rank, as docs/architecture.md describes it: rank 0 finds the reader (the probe, without
/// --from), reads the source metadata and broadcasts it; every rank builds the layout and the plan (and all agree on
/// its hash); dry runs stop there; otherwise rank 0 takes the output's lock, every rank executes its share, rank 0
/// commits, writes the manifest last, and the ranks' timelines become the run report. Any reader pairs with any
/// writer through <see cref="SourceFacts"/>: no pair is special.
/// </summary>
public static class ConversionJob
{
    /// <summary>What a run produced: the reader used, the plan summary (and, on rank 0 after a real run, the committed files).</summary>
    public sealed record Outcome(string From, PlanSummary Plan, ExecutionResult? Execution, double PlanSeconds)
    {
        /// <summary>The run report's HTML file, on rank 0 when one was written.</summary>
        public string? ReportPath { get; init; }
    }

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
        // --no-report records nothing either, so a benchmark can measure what the report costs.
        var timeline = new RankTimeline(clock);
        RankTimeline.Current = request.NoReport ? null : timeline;
        ICheckpointFormat target = FormatRegistry.WriterFor(request.To);
        // An unknown --from or --to fails on every rank at once, before rank 0 touches the input.
        if (request.From is string from) FormatRegistry.ReaderFor(from);

        byte[]? message = comm.RunPhase("read source metadata", () => comm.Rank == 0 ? ReadInputs(request).Serialize() : null);
        JobInputs inputs = JobInputs.Deserialize(comm.BcastBytes(message, root: 0));

        var planClock = System.Diagnostics.Stopwatch.StartNew();
        int ranks = request.DryRun && request.PlanRanks is int n ? n : comm.Size;
        (Plan plan, IReadOnlyList<string> notes) = comm.RunPhase("plan", () => BuildPlanWithNotes(inputs, request, ranks));
        double planSeconds = planClock.Elapsed.TotalSeconds;
        comm.AssertSameOnAllRanks(plan.Hash, "conversion plan");
        if (comm.Rank == 0)
        {
            foreach (string note in notes) Serilog.Log.Warning("--to {To}: {Note}", target.Name, note);
            WarnAboutTinyFiles(plan);
        }
        PlanSummary summary = plan.Summarize();
        if (request.DryRun)
        {
            // A dry run's report is the predicted timeline, at --assume-bandwidth (default 1 GB/s per rank).
            string? predicted = comm.Rank == 0 && request.Report is string where && !request.NoReport
                ? RunReports.WritePrediction(ReportFacts(request, inputs, summary, planSeconds, summary.BytesWritten, summary.Files, comm.Implementation, null),
                                             where, request.AssumeBandwidth ?? 1e9)
                : null;
            return new Outcome(inputs.Source.Format, summary, null, planSeconds) { ReportPath = predicted };
        }

        using var journal = new ChunkJournal(request.Output, request.Resume, request.Overwrite, inputs.Facts);
        IExecutionHooks executionHooks = hooks(journal);
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
            if (!request.NoReport)
                RunReports.WarmUp(ReportFacts(request, inputs, summary, planSeconds, summary.BytesWritten, summary.Files, comm.Implementation, null), comm.Rank == 0);
            Outcome outcome = Execute(comm, request, inputs, plan, summary, journal, executionHooks, progress, clock, planSeconds);
            if (request.NoReport) return outcome;
            ExecutionResult done = outcome.Execution!;
            var facts = ReportFacts(request, inputs, summary, planSeconds, done.Files.Sum(f => f.Size), done.Files.Count, comm.Implementation, striping);
            return outcome with { ReportPath = RunReports.WriteRun(comm, timeline, facts, request.Report, clock) };
        }
        catch (RankFailedException) when (executionHooks.KeepPartialOutputOnFailure)
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
                                   ChunkJournal journal, IExecutionHooks hooks, IProgressReporter? progress, System.Diagnostics.Stopwatch clock, double planSeconds)
    {
        using JournalProgress? watch = comm.Rank == 0 && progress is not null
            ? new JournalProgress(request.Output, plan.RankCount, plan.Ranks.Sum(r => r.BytesWritten), progress, ProgressInterval)
            : null;
        ExecutionResult result = Executor.Run(comm, plan, inputs.Catalog.Root, request.Output,
                                              new ExecutionOptions(request.Overwrite, request.Io, request.MaxBuffer) { Hooks = hooks });
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
                From = inputs.Source.Format,
                To = request.To,
                Io = request.Io.ToString().ToLowerInvariant(),
                Inputs = inputs.Facts,
                Outputs = result.Files,
                Plan = summary,
                WallSeconds = Math.Round(clock.Elapsed.TotalSeconds, 3),
            }.Write(request.Output);
            journal.Remove(); // only now: a crash before this line leaves a journal that --resume finishes
        });
        return new Outcome(inputs.Source.Format, summary, result, planSeconds);
    }

    private static ReportCollector.JobFacts ReportFacts(ConvertRequest request, JobInputs inputs, PlanSummary plan, double planSeconds,
                                                      long outputBytes, int outputFiles, string mpi, string? striping) =>
        new(request.CommandLine, inputs.Source.Format, request.To, request.Input, request.Output, request.Io.ToString().ToLowerInvariant(), request.MaxBuffer,
            plan, planSeconds, inputs.Facts.Sum(f => f.Size), outputBytes, outputFiles, mpi, striping);

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
                                files, Tensors.ByteSize.Format(bytes / files));
    }

    /// <summary>
    /// Rank 0: the reader (--from, else the one whose probe recognises the input, logged), the source metadata, and
    /// the files the writer's options name, so no other rank opens a file before planning.
    /// </summary>
    public static JobInputs ReadInputs(ConvertRequest request)
    {
        ICheckpointFormat source;
        if (request.From is string from)
        {
            source = FormatRegistry.ReaderFor(from);
        }
        else
        {
            (source, string what) = FormatRegistry.Detect(request.Input);
            Serilog.Log.Information("input looks like {What}; reading it as --from {Format}", what, source.Name);
        }
        ICheckpointFormat target = FormatRegistry.WriterFor(request.To);
        SourceMetadata read = source.Reader!.Open(new ReadSettings(request.Input, request.DryRun, target.Writer!.CarriesTrainingState), FormatRegistry.OptionsFor(request, source));
        var writerFiles = new Dictionary<string, string>();
        var files = new List<string>(read.InputFiles);
        foreach (string path in target.Writer!.InputFiles(FormatRegistry.OptionsFor(request, target)))
        {
            writerFiles[path] = Tensors.InputFiles.ReadText(path);
            files.Add(path);
        }
        return new JobInputs(read.Catalog, read.Facts, writerFiles, files.Select(InputFileFact.Of).ToList());
    }

    /// <summary>The layout and plan every rank computes from the broadcast inputs (also what <c>--dry-run</c> prints).</summary>
    public static Plan BuildPlan(JobInputs inputs, ConvertRequest request, int ranks) => BuildPlanWithNotes(inputs, request, ranks).Plan;

    /// <summary><see cref="BuildPlan"/>, with what the writer says the user must hear (state it does not carry).</summary>
    public static (Plan Plan, IReadOnlyList<string> Notes) BuildPlanWithNotes(JobInputs inputs, ConvertRequest request, int ranks)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        ICheckpointFormat target = FormatRegistry.WriterFor(request.To);
        IFormatWriter writer = target.Writer!;
        BufferBudget budget = new ExecutionOptions(Io: request.Io, MaxBuffer: request.MaxBuffer).Budget;
        var input = new WriteInput(inputs.Catalog, inputs.Source, request.DType, inputs.WriterFiles) { ChunkBytes = budget.ChunkBytes };
        TargetLayout layout = writer.Layout(input, FormatRegistry.OptionsFor(request, target));
        Serilog.Log.Debug("layout of {Files} files by the {Writer} writer in {Seconds:0.000} s", layout.Layout.Files.Count, target.Name, clock.Elapsed.TotalSeconds);
        IReadOnlyList<string> notes = layout.Notes;
        // A target that does not resume training drops the source's optimizer state unless it was asked to write it.
        if (inputs.Source.Training is TrainingState training && !writer.CarriesTrainingState && training.StateTensors.Count == 0)
            notes = [.. notes, $"not carried: {training.Description}; the {target.Name} output holds the weights only"];
        return (Planner.Build(layout.Layout, inputs.Catalog, new PlanOptions(ranks, budget.ChunkBytes, writer.ConsumesEverything) { Redundant = layout.Redundant }), notes);
    }
}
