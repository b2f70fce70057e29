namespace Ckptmpi.Conversion.Estimate;

/// <summary>
/// One row of a DeepSpeed ZeRO memory estimate table: memory for params, optimizer states and gradients per CPU
/// (node) and per GPU, in bytes, for one combination of options. <see cref="OffloadParam"/> and <see cref="ZeroInit"/>
/// are null in ZeRO-2 rows, which have neither option.
/// </summary>
public sealed record ZeroEstimateRow(int Stage, bool? OffloadParam, bool OffloadOptimizer, bool? ZeroInit, long CpuBytes, long GpuBytes)
{
    /// <summary>DeepSpeed pads the device name to 4 characters (<c>f'{OffloadDeviceEnum.cpu:4}'</c>) so the columns line
    /// up with "none". (On Python 3.11+ DeepSpeed itself prints <c>OffloadDeviceEnum.cpu</c> there, an enum-format
    /// change it never adapted to; we print what it means and what its documentation shows.)</summary>
    internal const string PaddedCpu = "cpu ";

    /// <summary>The options column exactly as DeepSpeed prints it, e.g.
    /// <c>offload_param=cpu , offload_optimizer=cpu , zero_init=1</c> or, for ZeRO-2, <c>offload_optimizer=none</c>.</summary>
    public string Options
    {
        get
        {
            string optimizer = $"offload_optimizer={Device(OffloadOptimizer)}";
            if (Stage == 2) return optimizer;
            return $"offload_param={Device(OffloadParam == true)}, {optimizer}, zero_init={(ZeroInit == true ? 1 : 0)}";
        }
    }

    /// <summary>Per-CPU memory in GiB as DeepSpeed prints it (<c>f"{cpu_mem/2**30:7.2f}"</c>, without the "GB").</summary>
    public string CpuGigabytes => PythonFloat.Fixed(CpuBytes / (double)(1L << 30), 2);

    /// <summary>Per-GPU memory in GiB as DeepSpeed prints it (<c>f"{gpu_mem/2**30:6.2f}"</c>, without the "GB").</summary>
    public string GpuGigabytes => PythonFloat.Fixed(GpuBytes / (double)(1L << 30), 2);

    /// <summary>The table line exactly as DeepSpeed prints it.</summary>
    public string ToDeepSpeedLine() =>
        $" {PythonFloat.Fixed(CpuBytes / (double)(1L << 30), 2, 7)}GB | {PythonFloat.Fixed(GpuBytes / (double)(1L << 30), 2, 6)}GB | {Options}";

    private static string Device(bool offloaded) => offloaded ? PaddedCpu : "none";
}
