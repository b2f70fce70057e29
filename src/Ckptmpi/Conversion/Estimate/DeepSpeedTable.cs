using System.Text;

namespace Ckptmpi.Conversion.Estimate;

/// <summary>
/// The text DeepSpeed's <c>estimate_zero3_model_states_mem_needs_all_cold</c> and
/// <c>estimate_zero2_model_states_mem_needs_all_cold</c> print (and so the <c>..._all_live</c> variants), line for line:
/// three header lines, the column header, one line per option row. Lines end with '\n' as Python's print does.
/// </summary>
public static class DeepSpeedTable
{
    public const string Intro = "Estimated memory needed for params, optim states and gradients for a:";
    public const string ColumnHeader = "  per CPU  |  per GPU |   Options";

    /// <summary>The ZeRO-3 block for <paramref name="rows"/> from <see cref="ZeroMemoryEstimator.Zero3Rows"/>.</summary>
    public static string Zero3(long totalParams, long largestLayerParams, int gpusPerNode, int nodes, IReadOnlyList<ZeroEstimateRow> rows) =>
        Block(gpusPerNode, nodes,
            $"SW: Model with {Millions(totalParams)}M total params, {Millions(largestLayerParams)}M largest layer params.", rows);

    /// <summary>The ZeRO-2 block for <paramref name="rows"/> from <see cref="ZeroMemoryEstimator.Zero2Rows"/>.</summary>
    public static string Zero2(long totalParams, int gpusPerNode, int nodes, IReadOnlyList<ZeroEstimateRow> rows) =>
        Block(gpusPerNode, nodes, $"SW: Model with {Millions(totalParams)}M total params.", rows);

    /// <summary>DeepSpeed's <c>int(n/1e6)</c>: a float division, then truncation.</summary>
    public static long Millions(long n) => PythonFloat.Int(n / 1e6);

    private static string Block(int gpusPerNode, int nodes, string softwareLine, IReadOnlyList<ZeroEstimateRow> rows)
    {
        var sb = new StringBuilder();
        sb.Append(Intro).Append('\n');
        sb.Append($"HW: Setup with {nodes} {(nodes > 1 ? "nodes" : "node")}, {gpusPerNode} {(gpusPerNode > 1 ? "GPUs" : "GPU")} per node.").Append('\n');
        sb.Append(softwareLine).Append('\n');
        sb.Append(ColumnHeader).Append('\n');
        foreach (ZeroEstimateRow row in rows) sb.Append(row.ToDeepSpeedLine()).Append('\n');
        return sb.ToString();
    }
}
