namespace Ckptmpi.Conversion.Estimate;

/// <summary>
/// DeepSpeed's ZeRO model-states memory estimators, with the same formulas, evaluation order, float/int mixing and
/// truncation as DeepSpeed 0.14.4 (<c>deepspeed/runtime/zero/stage3.py</c> <c>estimate_zero3_model_states_mem_needs</c>
/// and <c>stage_1_and_2.py</c> <c>estimate_zero2_model_states_mem_needs</c>), so that results agree to the byte.
/// Bytes per parameter: 16-bit params and grads (2 + 2), fp32 master params, momentum and variance (4 + 4 + 4), fp32
/// grads (4); "18" and "16" are sums of these; <c>additionalBufferFactor</c> (DeepSpeed's default 1.5) pads CPU figures.
/// </summary>
public static class ZeroMemoryEstimator
{
    public const double DefaultAdditionalBufferFactor = 1.5;

    /// <summary>Largest parameter count whose estimates we reproduce exactly (every intermediate integer stays below
    /// 2^53, where Python's int and float arithmetic agree with ours).</summary>
    public const long MaxExactParameters = PythonFloat.ExactIntegerLimit / 18 - 1;

    /// <summary>ZeRO-3 per-CPU and per-GPU bytes for one option combination; also DeepSpeed's
    /// <c>largest_layer_memory</c> (4 bytes per parameter of the largest layer: its gathered 16-bit params and grads).</summary>
    /// <exception cref="ArgumentOutOfRangeException">A count is negative or zero, or beyond <see cref="MaxExactParameters"/>.</exception>
    public static (long CpuBytes, long GpuBytes, long LargestLayerBytes) Zero3(
        long totalParams, long largestLayerParams, int gpusPerNode, int nodes,
        bool offloadOptimizer, bool offloadParams, bool zeroInit, double additionalBufferFactor = DefaultAdditionalBufferFactor)
    {
        Validate(totalParams, gpusPerNode, nodes);
        ArgumentOutOfRangeException.ThrowIfNegative(largestLayerParams);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(largestLayerParams, totalParams);
        long totalGpus = checked((long)nodes * gpusPerNode);
        double gpusFactor = 1.0 / nodes; // Python: 1 / num_nodes, a float
        long largestLayerMemory = checked(4 * largestLayerParams);
        double abf = additionalBufferFactor;

        double cpu;
        long gpu;
        if (offloadOptimizer)
        {
            // Params offloaded: fp16 params live on the CPU too (18 bytes); otherwise the GPU keeps a 2-byte shard.
            long perParam = offloadParams ? 18 : 16;
            gpu = offloadParams
                ? largestLayerMemory
                : checked(largestLayerMemory + PythonFloat.Int(PythonFloat.TrueDivide(checked(2 * totalParams), totalGpus)));
            cpu = zeroInit
                ? (double)checked(totalParams * perParam) * gpusFactor * abf
                : TimesPythonMax(totalParams, checked(4L * gpusPerNode), perParam * gpusFactor) * abf;
        }
        else
        {
            gpu = checked(largestLayerMemory + PythonFloat.Int(PythonFloat.TrueDivide(checked(18 * totalParams), totalGpus)));
            cpu = zeroInit
                ? (double)checked(largestLayerParams * 4 * gpusPerNode) * abf
                : (double)checked(totalParams * 4 * gpusPerNode) * abf;
        }
        return (PythonFloat.Int(cpu), gpu, largestLayerMemory);
    }

    /// <summary>ZeRO-2 per-CPU and per-GPU bytes (DeepSpeed 0.14.4, after its April 2024 fix: without offload the GPU
    /// holds 2-byte params plus an 18-byte-per-parameter shard).</summary>
    /// <exception cref="ArgumentOutOfRangeException">A count is negative or zero, or beyond <see cref="MaxExactParameters"/>.</exception>
    public static (long CpuBytes, long GpuBytes) Zero2(
        long totalParams, int gpusPerNode, int nodes, bool offloadOptimizer, double additionalBufferFactor = DefaultAdditionalBufferFactor)
    {
        Validate(totalParams, gpusPerNode, nodes);
        long totalGpus = checked((long)nodes * gpusPerNode);
        double cpu;
        long gpu;
        if (offloadOptimizer)
        {
            gpu = checked(2 * totalParams);
            cpu = (double)checked(totalParams * Math.Max(4 * totalGpus, 16)) * additionalBufferFactor;
        }
        else
        {
            gpu = checked(2 * totalParams + PythonFloat.Int(PythonFloat.TrueDivide(checked(18 * totalParams), totalGpus)));
            cpu = (double)checked(totalParams * 4 * gpusPerNode) * additionalBufferFactor;
        }
        return (PythonFloat.Int(cpu), gpu);
    }

    /// <summary>The six rows DeepSpeed's <c>estimate_zero3_model_states_mem_needs_all_cold</c> prints, in its order:
    /// offload_optimizer in (cpu, none) x offload_param in (cpu, none) (skipping params offloaded without the optimizer)
    /// x zero_init in (1, 0).</summary>
    public static IReadOnlyList<ZeroEstimateRow> Zero3Rows(long totalParams, long largestLayerParams, int gpusPerNode, int nodes,
        double additionalBufferFactor = DefaultAdditionalBufferFactor)
    {
        var rows = new List<ZeroEstimateRow>(6);
        foreach (bool offloadOptimizer in (bool[])[true, false])
        {
            foreach (bool offloadParams in (bool[])[true, false])
            {
                if (!offloadOptimizer && offloadParams) continue;
                foreach (bool zeroInit in (bool[])[true, false])
                {
                    var (cpu, gpu, _) = Zero3(totalParams, largestLayerParams, gpusPerNode, nodes, offloadOptimizer, offloadParams, zeroInit, additionalBufferFactor);
                    rows.Add(new ZeroEstimateRow(3, offloadParams, offloadOptimizer, zeroInit, cpu, gpu));
                }
            }
        }
        return rows;
    }

    /// <summary>The two rows of <c>estimate_zero2_model_states_mem_needs_all_cold</c>: optimizer offloaded, then not.</summary>
    public static IReadOnlyList<ZeroEstimateRow> Zero2Rows(long totalParams, int gpusPerNode, int nodes,
        double additionalBufferFactor = DefaultAdditionalBufferFactor)
    {
        var rows = new List<ZeroEstimateRow>(2);
        foreach (bool offloadOptimizer in (bool[])[true, false])
        {
            var (cpu, gpu) = Zero2(totalParams, gpusPerNode, nodes, offloadOptimizer, additionalBufferFactor);
            rows.Add(new ZeroEstimateRow(2, null, offloadOptimizer, null, cpu, gpu));
        }
        return rows;
    }

    // Python: total_params * max(4 * num_gpus_per_node, k * gpus_factor). max() keeps the first argument unless the
    // second is strictly larger, and the winner's type decides whether the product is an exact int or a float.
    private static double TimesPythonMax(long totalParams, long intCandidate, double floatCandidate) =>
        floatCandidate > intCandidate
            ? totalParams * floatCandidate
            : checked(totalParams * intCandidate);

    private static void Validate(long totalParams, int gpusPerNode, int nodes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(totalParams);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(totalParams, MaxExactParameters);
        ArgumentOutOfRangeException.ThrowIfLessThan(gpusPerNode, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(nodes, 1);
    }
}
