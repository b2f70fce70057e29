using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Ckptmpi.Conversion;
using Ckptmpi.Conversion.Execution;
using Ckptmpi.Conversion.Manifests;
using Ckptmpi.Tensors;

namespace Ckptmpi.Cli.Commands;

/// <summary>
/// <c>ckptmpi convert --from FMT --to FMT --input SRC --output DST [...]</c>: one conversion as an SPMD job
/// (issues #4, #5, #6, #7). Every rank parses the same line; <see cref="ConversionJob"/> does the rest.
/// </summary>
public static class ConvertCommand
{
    public static Command Create()
    {
        var from = new Option<string>("--from") { Description = "Source format: " + string.Join(", ", FormatRegistry.Readers.Select(r => $"{r.Name} ({r.Description})")), Required = true };
        var to = new Option<string>("--to") { Description = "Target format: " + string.Join(", ", FormatRegistry.Writers.Select(w => $"{w.Name} ({w.Description})")), Required = true };
        var input = new Option<string>("--input") { Description = "Source checkpoint directory (or, with --from hf --dry-run, a config.json).", Required = true };
        var output = new Option<string?>("--output") { Description = "Output directory (required unless --dry-run)." };
        var zeroStage = new Option<int?>("--zero-stage") { Description = "ZeRO stage of the target (1, 2 or 3)." };
        var dpSize = new Option<int?>("--dp-size") { Description = "Data-parallel world size of the training job the ZeRO checkpoint is for (independent of the ranks converting)." };
        var dtype = new Option<string?>("--dtype") { Description = "Output dtype: bf16, fp16 or fp32 (default: the source's; fp32 from ZeRO)." };
        var tag = new Option<string?>("--tag") { Description = "ZeRO tag folder (default: global_step0 when writing, the one in 'latest' when reading)." };
        var dsConfig = new Option<string?>("--ds-config") { Description = "DeepSpeed config JSON (optimizer, precision, stage) for the ZeRO target." };
        var maxShard = new Option<string>("--max-shard-size") { Description = "Largest safetensors shard (tensor bytes).", DefaultValueFactory = _ => "5GB" };
        var maxBuffer = new Option<string>("--max-buffer") { Description = "Memory per rank for data in flight, e.g. 64MiB, 1GiB.", DefaultValueFactory = _ => ByteSize.Format(Conversion.Planning.BufferBudget.Default) };
        var io = new Option<string>("--io") { Description = "direct: each rank reads its ranges; aggregate: one owner rank reads each source file and sends pieces by MPI.", DefaultValueFactory = _ => "direct" };
        io.AcceptOnlyFromAmong("direct", "aggregate");
        var overwrite = new Option<bool>("--overwrite") { Description = "Replace a checkpoint already in --output." };
        var resume = new Option<bool>("--resume") { Description = "Finish an interrupted run of the same command: redo only the pieces its journal does not prove complete." };
        var dryRun = new Option<bool>("--dry-run") { Description = "Print the plan (files, bytes per rank, balance, predicted time) without reading tensor data or writing." };
        var bandwidth = new Option<string?>("--assume-bandwidth") { Description = "Per-rank I/O bandwidth for the dry run's time prediction, e.g. 2GB/s." };
        var json = new Option<bool>("--json") { Description = "Print the result as JSON." };
        var planRanks = new Option<int?>("--ranks") { Description = "With --dry-run: plan for this many ranks instead of the job's." };
        var optimizerType = new Option<string?>("--optimizer") { Description = "ZeRO target: optimizer in param_groups, adamw or adam (default: --ds-config's, else adamw)." };
        optimizerType.AcceptOnlyFromAmong("adamw", "adam", "AdamW", "Adam");
        var lr = new Option<double?>("--lr") { Description = "ZeRO target: learning rate in param_groups (default: --ds-config's, else 1e-3)." };
        var betas = new Option<string?>("--betas") { Description = "ZeRO target: Adam betas as B1,B2 (default: --ds-config's, else 0.9,0.999)." };
        var eps = new Option<double?>("--eps") { Description = "ZeRO target: Adam epsilon (default: --ds-config's, else 1e-8)." };
        var weightDecay = new Option<double?>("--weight-decay") { Description = "ZeRO target: weight decay (default: --ds-config's, else 0.01 for AdamW)." };
        var config = new Option<string?>("--config") { Description = "--to hf: the config.json to write beside the weights (default: the one in the source checkpoint folder)." };
        var optimizer = new Option<bool>("--with-optimizer-states") { Description = "ZeRO -> HF: also write the full Adam moments as safetensors." };

        var command = new Command("convert", "Convert a checkpoint between formats, streaming, across all ranks of the job.");
        foreach (Option o in (Option[])[from, to, input, output, zeroStage, dpSize, dtype, tag, dsConfig, maxShard, maxBuffer, io, overwrite, resume, dryRun, bandwidth, json, optimizer, planRanks, optimizerType, lr, betas, eps, weightDecay, config])
            command.Options.Add(o);

        command.SetAction(parse => JobRunner.Run(comm =>
        {
            ConvertRequest request = Build(parse.GetRequiredValue(from), parse.GetRequiredValue(to), parse.GetRequiredValue(input), parse.GetValue(output),
                parse.GetValue(zeroStage), parse.GetValue(dpSize), parse.GetValue(dtype), parse.GetValue(tag), parse.GetValue(dsConfig),
                parse.GetValue(maxShard)!, parse.GetValue(maxBuffer)!, parse.GetValue(io)!, parse.GetValue(overwrite), parse.GetValue(dryRun),
                parse.GetValue(bandwidth), parse.GetValue(json), parse.GetValue(optimizer)) with
                {
                    PlanRanks = parse.GetValue(planRanks), Resume = parse.GetValue(resume), Config = parse.GetValue(config),
                    Optimizer = Optimizer(parse.GetValue(to)!, parse.GetValue(optimizerType), parse.GetValue(lr), parse.GetValue(betas), parse.GetValue(eps), parse.GetValue(weightDecay)),
                };
            if (request.PlanRanks is int pr && (pr < 1 || !request.DryRun)) throw new UsageException("--ranks needs --dry-run and a positive count");
            ConversionJob.Outcome outcome = ConversionJob.Run(comm, request, request.DryRun ? null : ProgressReporters.For(comm));
            if (comm.Rank == 0) Console.Out.Write(Render(request, outcome));
            return ExitCodes.Success;
        }));
        return command;
    }

    /// <exception cref="UsageException">an option value makes no sense.</exception>
    internal static ConvertRequest Build(string from, string to, string input, string? output, int? zeroStage, int? dpSize, string? dtype, string? tag,
        string? dsConfig, string maxShard, string maxBuffer, string io, bool overwrite, bool dryRun, string? bandwidth, bool json, bool optimizer)
    {
        if (output is null && !dryRun) throw new UsageException("--output is required (or use --dry-run)");
        if (zeroStage is not null and not (1 or 2 or 3)) throw new UsageException($"--zero-stage must be 1, 2 or 3, got {zeroStage}");
        if (dpSize is < 1) throw new UsageException($"--dp-size must be at least 1, got {dpSize}");
        if (to == "zero" && dpSize is null) throw new UsageException("--to zero needs --dp-size (the training job's data-parallel size)");
        if (to == "zero" && zeroStage is null && dsConfig is null) throw new UsageException("--to zero needs --zero-stage or a --ds-config that names zero_optimization.stage");
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
        long shard = Size(maxShard, "--max-shard-size");
        if (shard < 1) throw new UsageException("--max-shard-size must be positive");
        double? bw = bandwidth is null ? null : Size(bandwidth.EndsWith("/s", StringComparison.Ordinal) ? bandwidth[..^2] : bandwidth, "--assume-bandwidth");
        return new ConvertRequest
        {
            From = from, To = to, Input = input, Output = output ?? "", ZeroStage = zeroStage, DpSize = dpSize, DType = parsedType, Tag = tag,
            DsConfig = dsConfig, MaxShardSize = shard, MaxBuffer = buffer, Io = io == "aggregate" ? IoMode.Aggregate : IoMode.Direct,
            Overwrite = overwrite, DryRun = dryRun, AssumeBandwidth = bw, Json = json, WithOptimizerStates = optimizer,
            CommandLine = Environment.GetCommandLineArgs(),
        };
    }

    /// <exception cref="UsageException">a value is out of range, or the target is not a ZeRO checkpoint.</exception>
    internal static OptimizerOverrides Optimizer(string to, string? type, double? lr, string? betas, double? eps, double? weightDecay)
    {
        double? b1 = null, b2 = null;
        if (betas is not null)
        {
            string[] parts = betas.Split(',', StringSplitOptions.TrimEntries);
            if (parts.Length != 2
                || !double.TryParse(parts[0], NumberStyles.Float, CultureInfo.InvariantCulture, out double p1)
                || !double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out double p2)
                || p1 is < 0 or >= 1 || p2 is < 0 or >= 1)
                throw new UsageException($"--betas must be two numbers in [0, 1) separated by a comma, e.g. 0.9,0.95; got '{betas}'");
            (b1, b2) = (p1, p2);
        }
        if (lr is < 0 || double.IsNaN(lr ?? 0)) throw new UsageException($"--lr must be a non-negative number, got {lr}");
        if (eps is <= 0 || double.IsNaN(eps ?? 1)) throw new UsageException($"--eps must be positive, got {eps}");
        if (weightDecay is < 0 || double.IsNaN(weightDecay ?? 0)) throw new UsageException($"--weight-decay must be non-negative, got {weightDecay}");
        var o = new OptimizerOverrides
        {
            Type = type is null ? null : type.Equals("adam", StringComparison.OrdinalIgnoreCase) ? "Adam" : "AdamW",
            Lr = lr, Beta1 = b1, Beta2 = b2, Eps = eps, WeightDecay = weightDecay,
        };
        if (!o.IsEmpty && to != "zero") throw new UsageException("--optimizer, --lr, --betas, --eps and --weight-decay apply to --to zero only");
        return o;
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
        if (request.DryRun)
            return outcome.Plan.ToText(request.AssumeBandwidth) + string.Create(ci, $"  planned in {outcome.PlanSeconds:0.000} s (dry run: nothing read or written)\n");
        ExecutionResult r = outcome.Execution!;
        long bytes = r.Files.Sum(f => f.Size);
        return string.Create(ci, $"converted {request.From} -> {request.To}: {r.Files.Count} files, {ByteSize.Format(bytes)} in {r.Seconds:0.00} s ({bytes / 1e9 / Math.Max(r.Seconds, 1e-9):0.00} GB/s) on {outcome.Plan.Ranks} rank(s)\n")
            + $"  output:   {Path.GetFullPath(request.Output)}\n  manifest: {Path.Combine(Path.GetFullPath(request.Output), Manifest.FileName)} (plan {outcome.Plan.Hash[..16]})\n";
    }
}
