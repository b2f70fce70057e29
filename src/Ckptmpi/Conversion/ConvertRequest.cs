using Ckptmpi.Conversion.Execution;
using Ckptmpi.Tensors;

namespace Ckptmpi.Conversion;

/// <summary>One <c>ckptmpi convert</c> command line, parsed and checked; the same on every rank.</summary>
public sealed record ConvertRequest
{
    public required string From { get; init; }
    public required string To { get; init; }
    public required string Input { get; init; }
    public required string Output { get; init; }
    public int? ZeroStage { get; init; }
    public int? DpSize { get; init; }
    public DType? DType { get; init; }
    public string? Tag { get; init; }
    public string? DsConfig { get; init; }
    public long MaxShardSize { get; init; } = 5_000_000_000;
    public long MaxBuffer { get; init; } = Planning.BufferBudget.Default;
    public IoMode Io { get; init; } = IoMode.Direct;
    public bool Overwrite { get; init; }

    /// <summary>Continue an interrupted run of the same command: redo only what the journal does not prove complete.</summary>
    public bool Resume { get; init; }

    public bool DryRun { get; init; }
    public bool WithOptimizerStates { get; init; }

    /// <summary>A config.json to carry into the output instead of the one beside the source checkpoint (if any).</summary>
    public string? Config { get; init; }

    /// <summary>ZeRO target: optimizer hyper-parameters from the command line, over --ds-config's.</summary>
    public OptimizerOverrides Optimizer { get; init; } = new();

    /// <summary>Bytes per second per rank assumed by the dry run's time prediction.</summary>
    public double? AssumeBandwidth { get; init; }

    public bool Json { get; init; }

    /// <summary>Dry run only: plan for this many ranks instead of the job's (plan a 96-rank job from a laptop).</summary>
    public int? PlanRanks { get; init; }

    /// <summary>The command line as typed, for the manifest.</summary>
    public IReadOnlyList<string> CommandLine { get; init; } = [];
}
