using System.Diagnostics;
using System.Globalization;
using System.Text;
using Ckptmpi.Conversion.Verify;
using Ckptmpi.Formats.DeepSpeed;
using Ckptmpi.Formats.Safetensors;
using Ckptmpi.Parallel;
using Ckptmpi.Tensors;

namespace Ckptmpi.Conversion.Demo;

/// <summary>
/// <c>ckptmpi demo</c>'s body: write the small built-in model, convert it HF -> ZeRO-3 (dp 4) -> HF on every rank of
/// the job, and prove the round trip bit-exact. Returns the summary text (rank 0) and whether everything matched.
/// </summary>
public static class DemoRun
{
    private static readonly OptimizerOverrides DemoTraining = new()
    {
        Type = "AdamW", Lr = 3e-4, Beta1 = 0.9, Beta2 = 0.95, Eps = 1e-8, WeightDecay = 0.1, GradientClipping = 1.0,
    };

    /// <param name="reportDir">where each step's run report goes (it outlives a temporary <paramref name="dir"/>); null: beside each output.</param>
    public static (bool Ok, string Summary) Run(ICommunicator comm, string dir, DemoModel model, string? reportDir = null)
    {
        var ci = CultureInfo.InvariantCulture;
        var text = new StringBuilder();
        var clock = Stopwatch.StartNew();
        string hf = Path.Combine(dir, "hf"), zero = Path.Combine(dir, "zero3-dp4"), back = Path.Combine(dir, "hf-roundtrip");
        long parameters = comm.RunPhase("write demo model", () =>
        {
            if (comm.Rank != 0) return 0L;
            foreach (string d in new[] { hf, zero, back }) if (Directory.Exists(d)) Directory.Delete(d, recursive: true);
            return model.Write(hf);
        });
        if (comm.Rank == 0)
            text.AppendLine(ci, $"1. wrote a Llama-style model: {parameters / 1e6:0.0}M parameters, {model.DType.TorchName()}, {Directory.GetFiles(hf, "*.safetensors").Length} safetensors shards -> {hf}");

        // The demo's training job, stated in full as a real run must state it (or pass its ds_config); the target trains in bf16.
        var zeroOptions = new ZeroOptions { ZeroStage = 3, DpSize = 4, Optimizer = DemoTraining };
        List<ConvertRequest> steps =
        [
            Request("hf", "zero", hf, zero) with { FormatOptions = [zeroOptions, Shards] },
            Request("zero", "hf", zero, back) with { DType = model.DType },
        ];

        int n = 2;
        foreach (ConvertRequest s in steps)
        {
            ConvertRequest step = reportDir is null ? s : s with { Report = Path.Combine(reportDir, $"{s.From}-to-{s.To}.html") };
            ConversionJob.Outcome outcome = ConversionJob.Run(comm, step);
            if (comm.Rank == 0)
            {
                string what = step.To == "zero" ? $"ZeRO-{zeroOptions.ZeroStage} (dp {zeroOptions.DpSize})" : $"HuggingFace {(step.DType ?? model.DType).TorchName()}";
                text.AppendLine(ci, $"{n++}. {step.From} -> {what}: {outcome.Execution!.Files.Count} files, {ByteSize.Format(outcome.Plan.BytesWritten)} in {outcome.Execution.Seconds:0.00} s on {comm.Size} rank(s) -> {step.Output}");
                if (outcome.ReportPath is string report) text.AppendLine(ci, $"   run report (open in a browser): {Path.GetFullPath(report)}");
            }
        }

        (bool ok, string verdict) = comm.RunPhase("compare", () =>
        {
            if (comm.Rank != 0) return (true, "");
            var mismatches = CatalogComparer.Compare(SafetensorsCheckpoint.Open(hf), SafetensorsCheckpoint.Open(back));
            return mismatches.Count == 0
                ? (true, "round trip bit-exact: every tensor of the round-trip checkpoint equals the original")
                : (false, $"round trip MISMATCH in {mismatches.Count} tensor(s): " + string.Join("; ", mismatches.Take(5).Select(m => $"{m.Tensor}: {m.What}")));
        });
        if (comm.Rank == 0) text.AppendLine(ci, $"{n}. {verdict} ({clock.Elapsed.TotalSeconds:0.0} s in all)");
        return (ok, text.ToString());
    }

    private static ConvertRequest Request(string from, string to, string input, string output) => new()
    {
        From = from, To = to, Input = input, Output = output, MaxBuffer = 16L << 20, FormatOptions = [Shards],
        CommandLine = ["ckptmpi", "demo"],
    };

    /// <summary>Small shards, so the tiny model still shows a sharded checkpoint with an index.</summary>
    private static readonly HfOptions Shards = new() { MaxShardSize = 4_000_000 };
}
