using Ckptmpi.Conversion.Execution;
using Ckptmpi.Conversion.Journal;
using Ckptmpi.Conversion.Manifests;
using Ckptmpi.Conversion.Planning;
using Ckptmpi.Formats;
using Ckptmpi.Parallel;

namespace Ckptmpi.Conversion;

/// <summary>
/// One conversion on every rank, as ARCHITECTURE.md runs it: rank 0 finds the reader (the probe, without --from),
/// reads the source metadata and broadcasts it; every rank builds the layout and the plan (and all agree on its
/// hash); dry runs stop there; otherwise every rank executes its share, rank 0 commits, then writes the manifest last.
/// Any reader pairs with any writer through <see cref="SourceFacts"/>: no pair is special.
/// </summary>
public static class ConversionJob
{
    /// <summary>What a run produced: the reader used, the plan summary (and, on rank 0 after a real run, the committed files).</summary>
    public sealed record Outcome(string From, PlanSummary Plan, ExecutionResult? Execution, double PlanSeconds);

    public static Outcome Run(ICommunicator comm, ConvertRequest request)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
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
        }
        PlanSummary summary = plan.Summarize();
        if (request.DryRun) return new Outcome(inputs.Source.Format, summary, null, planSeconds);

        using var journal = new ChunkJournal(request.Output, request.Resume, request.Overwrite, request.Faults ?? JournalFaults.FromEnvironment());
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
        SourceMetadata read = source.Reader!.Open(new ReadSettings(request.Input, request.DryRun), FormatRegistry.OptionsFor(request, source));
        var writerFiles = new Dictionary<string, string>();
        var files = new List<string>(read.InputFiles);
        foreach (string path in target.Writer!.InputFiles(FormatRegistry.OptionsFor(request, target)))
        {
            writerFiles[path] = File.ReadAllText(path);
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
        TargetLayout layout = writer.Layout(new WriteInput(inputs.Catalog, inputs.Source, request.DType, inputs.WriterFiles), FormatRegistry.OptionsFor(request, target));
        Serilog.Log.Debug("layout of {Files} files by the {Writer} writer in {Seconds:0.000} s", layout.Layout.Files.Count, target.Name, clock.Elapsed.TotalSeconds);
        long budget = request.Io == IoMode.Aggregate ? Executor.AggregateChunkBudget(request.MaxBuffer) : Executor.DirectChunkBudget(request.MaxBuffer);
        return (Planner.Build(layout.Layout, inputs.Catalog, new PlanOptions(ranks, budget, writer.ConsumesEverything)), layout.Notes);
    }
}
