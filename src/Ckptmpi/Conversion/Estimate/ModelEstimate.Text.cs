using System.Globalization;
using System.Text;

namespace Ckptmpi.Conversion.Estimate;

public sealed partial record ModelEstimate
{
    /// <summary>
    /// The human-readable report: a short census (model, exclusions, totals, largest module), then DeepSpeed's own
    /// printed tables, verbatim, for the requested stages (ZeRO-3 first, then ZeRO-2).
    /// </summary>
    public string ToText(ZeroStages stages = ZeroStages.All)
    {
        var sb = new StringBuilder();
        string architecture = Source.Architecture ?? "unknown architecture";
        sb.Append($"Model: {Source.Path} ({architecture}, {Source.KindDescription}, {Census.TensorCount} tensors)\n");
        if (ExcludePattern is not null)
        {
            int n = Census.ExcludedTensors.Count;
            sb.Append($"Excluded: {n} {(n == 1 ? "tensor" : "tensors")} matching '{ExcludePattern}' ({Grouped(Census.ExcludedParameters)} parameters)");
            if (n > 0) sb.Append(": ").Append(string.Join(", ", Census.ExcludedTensors.Take(3))).Append(n > 3 ? $", ... (+{n - 3} more)" : "");
            sb.Append('\n');
        }
        sb.Append($"Total parameters: {Grouped(Census.TotalParameters)}\n");
        sb.Append($"Largest layer: {ModuleName(Census.LargestLayerModule)} ({Grouped(Census.LargestLayerParameters)} parameters)\n");
        if (stages.HasFlag(ZeroStages.Zero3))
        {
            sb.Append("\nZeRO-3 (DeepSpeed estimate_zero3_model_states_mem_needs_all_live):\n");
            sb.Append(Zero3Table);
        }
        if (stages.HasFlag(ZeroStages.Zero2))
        {
            sb.Append("\nZeRO-2 (DeepSpeed estimate_zero2_model_states_mem_needs_all_live):\n");
            sb.Append(Zero2Table);
        }
        return sb.ToString();
    }

    private static string Grouped(long n) => n.ToString("N0", CultureInfo.InvariantCulture);

    private static string ModuleName(string module) => module.Length == 0 ? "(root module)" : module;
}
