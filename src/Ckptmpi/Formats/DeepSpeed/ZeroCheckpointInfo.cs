using Ckptmpi.Tensors;

namespace Ckptmpi.Formats.DeepSpeed;

/// <summary>
/// What a ZeRO checkpoint's own metadata says about the training run that saved it: enough to describe it to the
/// user and to tell a target what state it holds beyond the weights.
/// </summary>
public sealed record ZeroCheckpointInfo
{
    public required int Stage { get; init; }

    /// <summary>The training job's data-parallel size (the number of optimizer-state files).</summary>
    public required int DpSize { get; init; }

    /// <summary>DeepSpeed's optimizer wrapper: DeepSpeedZeroOptimizer, DeepSpeedZeroOptimizer_Stage3 or BF16_Optimizer.</summary>
    public required string Optimizer { get; init; }

    public required string Tag { get; init; }

    /// <summary>The rank files carry the <c>bf16_</c> prefix (a bf16 run).</summary>
    public bool Bf16 { get; init; }

    public string? DsVersion { get; init; }

    /// <summary>The dtype of the module weights in the model-state file (the training dtype); null without any.</summary>
    public DType? ModuleDType { get; init; }

    /// <summary>The Adam step when the optimizer keeps it as a Python number (FusedAdam); null when it is a tensor per param or absent.</summary>
    public string? Step { get; init; }

    /// <summary>The engine's counters in the model-state file (<c>global_steps</c>, <c>global_samples</c>, <c>skipped_steps</c>), as saved.</summary>
    public IReadOnlyDictionary<string, long> Counters { get; init; } = new Dictionary<string, long>();

    /// <summary>Catalog tensors that are optimizer state (<c>.exp_avg</c>, <c>.exp_avg_sq</c>, <c>.step</c>), read only when asked for.</summary>
    public IReadOnlyList<string> StateTensors { get; init; } = [];
}
