using System.Text.RegularExpressions;

namespace Ckptmpi.Conversion.Estimate;

/// <summary>
/// A whole <c>ckptmpi estimate</c> result: the parameter census of a model and DeepSpeed's ZeRO-3 and ZeRO-2 memory
/// tables for a cluster shape. Pure computation over names and shapes; text and JSON renderings in partial files.
/// </summary>
public sealed partial record ModelEstimate(
    EstimateSource Source,
    string? ExcludePattern,
    int GpusPerNode,
    int Nodes,
    double AdditionalBufferFactor,
    ParameterCensus Census,
    long Zero3LargestLayerBytes,
    IReadOnlyList<ZeroEstimateRow> Zero3Rows,
    IReadOnlyList<ZeroEstimateRow> Zero2Rows)
{
    /// <summary>Counts <paramref name="source"/> (minus tensors matching <paramref name="exclude"/>) and evaluates every
    /// ZeRO-3 and ZeRO-2 option row.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Counts beyond what DeepSpeed's arithmetic can be reproduced exactly for.</exception>
    /// <exception cref="OverflowException">A byte figure beyond 64 bits (absurd cluster sizes).</exception>
    public static ModelEstimate Compute(EstimateSource source, Regex? exclude, int gpusPerNode, int nodes,
        double additionalBufferFactor = ZeroMemoryEstimator.DefaultAdditionalBufferFactor)
    {
        ArgumentNullException.ThrowIfNull(source);
        ParameterCensus census = ParameterCensus.Take(source.Tensors, exclude);
        long total = census.TotalParameters, largest = census.LargestLayerParameters;
        return new ModelEstimate(source, exclude?.ToString(), gpusPerNode, nodes, additionalBufferFactor, census,
            Zero3LargestLayerBytes: checked(4 * largest),
            Zero3Rows: ZeroMemoryEstimator.Zero3Rows(total, largest, gpusPerNode, nodes, additionalBufferFactor),
            Zero2Rows: ZeroMemoryEstimator.Zero2Rows(total, gpusPerNode, nodes, additionalBufferFactor));
    }

    /// <summary>DeepSpeed's printed ZeRO-3 block, exactly.</summary>
    public string Zero3Table => DeepSpeedTable.Zero3(Census.TotalParameters, Census.LargestLayerParameters, GpusPerNode, Nodes, Zero3Rows);

    /// <summary>DeepSpeed's printed ZeRO-2 block, exactly.</summary>
    public string Zero2Table => DeepSpeedTable.Zero2(Census.TotalParameters, GpusPerNode, Nodes, Zero2Rows);
}
