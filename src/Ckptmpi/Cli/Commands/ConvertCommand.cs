using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Ckptmpi.Conversion;
using Ckptmpi.Conversion.Execution;
using Ckptmpi.Conversion.Manifests;
using Ckptmpi.Tensors;

namespace Ckptmpi.Cli.Commands;

/// <summary>
/// <c>ckptmpi convert --from FMT --to FMT --input SRC --output DST [...]</c>: one conversion as an SPMD job.
/// Every rank parses the same line; the options come from the format-neutral set here and from each registered
/// format; <see cref="ConversionJob"/> does the rest.
/// </summary>
public static class ConvertCommand
{
    public static Command Create()
    {
        var o = new NeutralOptions();
        var command = new Command("convert", "Convert a checkpoint between formats, streaming, across all ranks of the job.");
        foreach (Option option in o.All.Concat(FormatRegistry.All.SelectMany(f => f.Options)))
            command.Options.Add(option);
        command.SetAction(parse => JobRunner.Run(comm =>
        {
            ConvertRequest request = Build(parse, o);
            ConversionJob.Outcome outcome = ConversionJob.Run(comm, request, request.DryRun ? null : ProgressReporters.For(comm));
            if (comm.Rank == 0) Console.Out.Write(Render(request, outcome));
            return ExitCodes.Success;
        }));
        return command;
    }

    /// <summary>The request a <c>convert</c> command line makes, parsed by the command itself (tests use it to mean what users type).</summary>
    /// <exception cref="UsageException">the line does not parse, or an option value makes no sense.</exception>
    internal static ConvertRequest Parse(params string[] args)
    {
        var o = new NeutralOptions();
        var command = new Command("convert");
        foreach (Option option in o.All.Concat(FormatRegistry.All.SelectMany(f => f.Options))) command.Options.Add(option);
        ParseResult parse = command.Parse(args);
        if (parse.Errors.Count > 0) throw new UsageException(string.Join("; ", parse.Errors.Select(e => e.Message)));
        return Build(parse, o);
    }

    /// <summary>The format-neutral options; each format adds its own (<see cref="Formats.ICheckpointFormat.Options"/>).</summary>
    private sealed class NeutralOptions
    {
        public readonly Option<string?> From = new("--from") { Description = "Source format: " + string.Join(", ", FormatRegistry.Readers.Select(f => $"{f.Name} ({f.Reader!.Description})")) + ". Default: recognised from --input." };
        public readonly Option<string> To = new("--to") { Description = "Target format: " + string.Join(", ", FormatRegistry.Writers.Select(f => $"{f.Name} ({f.Writer!.Description})")), Required = true };
        public readonly Option<string> Input = new("--input") { Description = "Source checkpoint directory (or, with --from hf --dry-run, a config.json).", Required = true };
        public readonly Option<string?> Output = new("--output") { Description = "Output directory (required unless --dry-run)." };
        public readonly Option<string?> DType = new("--dtype") { Description = "Output dtype: bf16, fp16 or fp32 (default: the source's; fp32 from ZeRO)." };
        public readonly Option<string> MaxBuffer = new("--max-buffer") { Description = "Memory per rank for data in flight, e.g. 64MiB, 1GiB.", DefaultValueFactory = _ => ByteSize.Format(Conversion.Planning.BufferBudget.Default) };
        public readonly Option<string> Io = CreateIo();
        public readonly Option<bool> Overwrite = new("--overwrite") { Description = "Replace a checkpoint already in --output." };
        public readonly Option<bool> Resume = new("--resume") { Description = "Finish an interrupted run of the same command: redo only the pieces its journal does not prove complete." };
        public readonly Option<bool> DryRun = new("--dry-run") { Description = "Print the plan (files, bytes per rank, balance, predicted time) without reading tensor data or writing." };
        public readonly Option<string?> Bandwidth = new("--assume-bandwidth") { Description = "Per-rank I/O bandwidth for the dry run's time prediction, e.g. 2GB/s." };
        public readonly Option<bool> Json = new("--json") { Description = "Print the result as JSON." };
        public readonly Option<int?> PlanRanks = new("--ranks") { Description = "With --dry-run: plan for this many ranks instead of the job's." };
        public readonly Option<string?> Report = new("--report") { Description = "Write the run report (HTML, and JSON beside it) to this file or folder instead of beside the manifest; a dry run writes the predicted timeline there." };
        public readonly Option<bool> NoReport = new("--no-report") { Description = "Write no run report." };
        public readonly Option<string?> StripeCount = new("--stripe-count") { Description = "Lustre only: OSTs to stripe the output directory over (-1 = all, the default), or 'keep' to leave its layout." };
        public readonly Option<string?> StripeSize = new("--stripe-size") { Description = "Lustre only: stripe size (default 16MiB; a multiple of 64KiB)." };

        public Option[] All => [From, To, Input, Output, DType, MaxBuffer, Io, Overwrite, Resume, DryRun, Bandwidth, Json, PlanRanks, Report, NoReport, StripeCount, StripeSize];

        private static Option<string> CreateIo()
        {
            var io = new Option<string>("--io") { Description = "direct: each rank reads its ranges; aggregate: one owner rank reads each source file and sends pieces by MPI.", DefaultValueFactory = _ => "direct" };
            io.AcceptOnlyFromAmong("direct", "aggregate");
            return io;
        }
    }

    /// <exception cref="UsageException">a format-neutral option value makes no sense.</exception>
    /// <exception cref="Errors.FormatOptionException">a format refuses one of its options.</exception>
    private static ConvertRequest Build(ParseResult parse, NeutralOptions o)
    {
        string? from = parse.GetValue(o.From), output = parse.GetValue(o.Output), dtype = parse.GetValue(o.DType), bandwidth = parse.GetValue(o.Bandwidth);
        string to = parse.GetRequiredValue(o.To), maxBuffer = parse.GetValue(o.MaxBuffer)!;
        bool dryRun = parse.GetValue(o.DryRun);
        if (output is null && !dryRun) throw new UsageException("--output is required (or use --dry-run)");
        DType? parsedType = null;
        if (dtype is not null)
        {
            if (!DTypes.TryParseUserName(dtype, out DType t) || t is not (DType.BF16 or DType.F16 or DType.F32))
                throw new UsageException($"--dtype must be bf16, fp16 or fp32, got '{dtype}'");
            parsedType = t;
        }
        long buffer = Size(maxBuffer, "--max-buffer");
        if (Conversion.Planning.BufferBudget.Problem(buffer) is string problem)
            throw new UsageException($"--max-buffer {problem}, got {maxBuffer}");
        double? bw = bandwidth is null ? null : Size(bandwidth.EndsWith("/s", StringComparison.Ordinal) ? bandwidth[..^2] : bandwidth, "--assume-bandwidth");
        int? planRanks = parse.GetValue(o.PlanRanks);
        if (planRanks is int pr && (pr < 1 || !dryRun)) throw new UsageException("--ranks needs --dry-run and a positive count");
        // Every format checks its own options' values, and what its role here (reader, writer) requires.
        var formatOptions = FormatRegistry.All.Select(f => f.Bind(parse,
            (f.Name == from ? Formats.FormatRole.Read : Formats.FormatRole.None) | (f.Name == to ? Formats.FormatRole.Write : Formats.FormatRole.None))).ToList();
        return new ConvertRequest
        {
            From = from, To = to, Input = parse.GetRequiredValue(o.Input), Output = output ?? "", DType = parsedType, MaxBuffer = buffer,
            Io = parse.GetValue(o.Io) == "aggregate" ? IoMode.Aggregate : IoMode.Direct, Overwrite = parse.GetValue(o.Overwrite),
            Resume = parse.GetValue(o.Resume), DryRun = dryRun, AssumeBandwidth = bw, Json = parse.GetValue(o.Json), PlanRanks = planRanks,
            FormatOptions = formatOptions, CommandLine = Environment.GetCommandLineArgs(),
            Report = parse.GetValue(o.Report), NoReport = parse.GetValue(o.NoReport),
            Striping = ParseStriping(parse.GetValue(o.StripeCount), parse.GetValue(o.StripeSize)),
        };
    }

    private static Striping ParseStriping(string? count, string? size)
    {
        try { return Striping.Parse(count, size); }
        catch (FormatException e) { throw new UsageException(e.Message); }
    }

    private static long Size(string text, string option)
    {
        try { return ByteSize.Parse(text); }
        catch (FormatException e) { throw new UsageException($"{option}: {e.Message}"); }
    }

    internal static string Render(ConvertRequest request, ConversionJob.Outcome outcome)
    {
        var ci = CultureInfo.InvariantCulture;
        if (request.Json)
        {
            var doc = new Dictionary<string, object?>
            {
                ["dry_run"] = request.DryRun,
                ["plan_seconds"] = Math.Round(outcome.PlanSeconds, 3),
                ["predicted_seconds"] = request.AssumeBandwidth is double b ? Math.Round(outcome.Plan.PredictedSeconds(b), 2) : null,
                ["plan"] = outcome.Plan,
                ["outputs"] = outcome.Execution?.Files,
                ["seconds"] = outcome.Execution?.Seconds,
            };
            return JsonSerializer.Serialize(doc, Manifest.Json) + Environment.NewLine;
        }
        string reportLine = outcome.ReportPath is string rp ? $"  report:   {Path.GetFullPath(rp)}\n" : "";
        if (request.DryRun)
            return outcome.Plan.ToText(request.AssumeBandwidth) + string.Create(ci, $"  planned in {outcome.PlanSeconds:0.000} s (dry run: nothing read or written)\n") + reportLine;
        ExecutionResult r = outcome.Execution!;
        long bytes = r.Files.Sum(f => f.Size);
        return string.Create(ci, $"converted {outcome.From} -> {request.To}: {r.Files.Count} files, {ByteSize.Format(bytes)} in {r.Seconds:0.00} s ({bytes / 1e9 / Math.Max(r.Seconds, 1e-9):0.00} GB/s) on {outcome.Plan.Ranks} rank(s)\n")
            + $"  output:   {Path.GetFullPath(request.Output)}\n  manifest: {Path.Combine(Path.GetFullPath(request.Output), Manifest.FileName)} (plan {outcome.Plan.Hash[..16]})\n" + reportLine;
    }
}
