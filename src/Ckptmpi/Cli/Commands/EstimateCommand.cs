using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Ckptmpi.Conversion.Estimate;
using Ckptmpi.Model;

namespace Ckptmpi.Cli.Commands;

/// <summary>
/// <c>ckptmpi estimate</c>: parameter counts and DeepSpeed's ZeRO-3 / ZeRO-2 model-states memory tables for a
/// HuggingFace model, from its safetensors headers or its config.json alone, in well under a second where DeepSpeed's
/// <c>estimate_zero3_model_states_mem_needs_all_live</c> first loads every weight.
/// </summary>
public static class EstimateCommand
{
    /// <summary>Upper bounds that keep every DeepSpeed intermediate inside exactly reproducible integer ranges.</summary>
    private const int MaxGpusPerNode = 1 << 16, MaxNodes = 1 << 20;

    public static Command Create()
    {
        var model = new Option<string>("--model")
        {
            Description = "HuggingFace model directory (only safetensors headers are read) or a config.json "
                + $"({string.Join(", ", ModelFamilies.Names)}).",
            Required = true,
        };
        var gpusPerNode = new Option<int>("--gpus-per-node") { Description = "GPUs per node (DeepSpeed num_gpus_per_node).", DefaultValueFactory = _ => 1 };
        var nodes = new Option<int>("--nodes") { Description = "Number of nodes (DeepSpeed num_nodes).", DefaultValueFactory = _ => 1 };
        var stage = new Option<string>("--stage") { Description = "Which ZeRO table(s) to print: 2, 3 or all.", DefaultValueFactory = _ => "all" };
        stage.AcceptOnlyFromAmong("2", "3", "all");
        var buffer = new Option<double>("--additional-buffer-factor")
        {
            Description = "DeepSpeed's additional_buffer_factor for CPU figures.",
            DefaultValueFactory = _ => ZeroMemoryEstimator.DefaultAdditionalBufferFactor,
        };
        var exclude = new Option<string?>("--exclude")
        {
            Description = "Leave out tensors whose name matches this regular expression (searched anywhere in the name); "
                + "'lm_head' counts what AutoModel (no LM head) holds.",
        };
        var json = new Option<bool>("--json") { Description = "Print one JSON object with the same numbers instead of text." };

        var command = new Command("estimate",
            "Count parameters and print DeepSpeed's ZeRO-3 and ZeRO-2 memory estimates for a model, without loading weights.");
        foreach (Option o in (Option[])[model, gpusPerNode, nodes, stage, buffer, exclude, json]) command.Options.Add(o);

        command.SetAction(parse => JobRunner.Run(comm =>
        {
            var options = new EstimateOptions(
                parse.GetRequiredValue(model), parse.GetValue(gpusPerNode), parse.GetValue(nodes),
                parse.GetValue(stage) ?? "all", parse.GetValue(buffer), parse.GetValue(exclude), parse.GetValue(json));
            // Pure metadata work: every rank could compute it, only rank 0 speaks.
            string output = Run(options);
            if (comm.Rank == 0) Console.Out.Write(output);
            return ExitCodes.Success;
        }));
        return command;
    }

    /// <summary>The parsed command line.</summary>
    internal sealed record EstimateOptions(string Model, int GpusPerNode, int Nodes, string Stage, double AdditionalBufferFactor, string? Exclude, bool Json);

    /// <summary>The command body without the console: validates, loads, computes and renders.</summary>
    /// <exception cref="UsageException">An option value makes no sense (bad regex, zero GPUs, ...).</exception>
    internal static string Run(EstimateOptions o)
    {
        if (o.GpusPerNode is < 1 or > MaxGpusPerNode) throw new UsageException($"--gpus-per-node must be between 1 and {MaxGpusPerNode}, got {o.GpusPerNode}");
        if (o.Nodes is < 1 or > MaxNodes) throw new UsageException($"--nodes must be between 1 and {MaxNodes}, got {o.Nodes}");
        if (!double.IsFinite(o.AdditionalBufferFactor) || o.AdditionalBufferFactor <= 0)
            throw new UsageException($"--additional-buffer-factor must be a positive number, got {o.AdditionalBufferFactor.ToString(CultureInfo.InvariantCulture)}");
        ZeroStages stages = o.Stage switch
        {
            "2" => ZeroStages.Zero2,
            "3" => ZeroStages.Zero3,
            "all" => ZeroStages.All,
            _ => throw new UsageException($"--stage must be 2, 3 or all, got '{o.Stage}'"),
        };
        Regex? exclude = null;
        if (o.Exclude is not null)
        {
            try
            {
                exclude = new Regex(o.Exclude, RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
            }
            catch (ArgumentException e)
            {
                throw new UsageException($"--exclude '{o.Exclude}' is not a valid regular expression: {e.Message}");
            }
        }

        var clock = Stopwatch.StartNew();
        EstimateSource source = EstimateSource.Open(o.Model);
        ModelEstimate estimate;
        try
        {
            estimate = ModelEstimate.Compute(source, exclude, o.GpusPerNode, o.Nodes, o.AdditionalBufferFactor);
        }
        catch (Exception e) when (e is OverflowException or ArgumentOutOfRangeException)
        {
            throw new UsageException($"{o.Model}: the estimate for this model and cluster shape is beyond what DeepSpeed's arithmetic can be reproduced exactly for ({e.Message})");
        }
        string text = o.Json ? estimate.ToJson(stages, clock.Elapsed.TotalSeconds) + "\n" : estimate.ToText(stages);
        return text;
    }
}
