using Ckptmpi.Conversion.Execution;
using Ckptmpi.Formats;
using Ckptmpi.Tensors;

namespace Ckptmpi.Conversion;

/// <summary>
/// One <c>ckptmpi convert</c> command line, parsed and checked; the same on every rank. Format-neutral fields, plus
/// each format's typed options (<see cref="FormatOptions"/>), bound by the format itself.
/// </summary>
public sealed record ConvertRequest
{
    /// <summary>The reader; null: the one whose probe recognises <see cref="Input"/> (<see cref="FormatRegistry.Detect"/>).</summary>
    public string? From { get; init; }
    public required string To { get; init; }
    public required string Input { get; init; }
    public required string Output { get; init; }

    /// <summary>Output dtype; null: the source's (its <see cref="SourceFacts.PreferredDType"/>, else each tensor's own).</summary>
    public DType? DType { get; init; }
    public long MaxBuffer { get; init; } = Planning.BufferBudget.Default;
    public IoMode Io { get; init; } = IoMode.Direct;
    public bool Overwrite { get; init; }

    /// <summary>Continue an interrupted run of the same command: redo only what the journal does not prove complete.</summary>
    public bool Resume { get; init; }

    public bool DryRun { get; init; }

    /// <summary>Options of the formats, at most one record per format; a format without one uses its defaults (<see cref="FormatRegistry.OptionsFor"/>).</summary>
    public IReadOnlyList<FormatOptions> FormatOptions { get; init; } = [];

    /// <summary>Bytes per second per rank assumed by the dry run's time prediction.</summary>
    public double? AssumeBandwidth { get; init; }

    public bool Json { get; init; }

    /// <summary>Where the run report goes (an HTML path or a folder); null: beside the manifest (dry runs: none).</summary>
    public string? Report { get; init; }

    /// <summary>Write no run report.</summary>
    public bool NoReport { get; init; }

    /// <summary>The Lustre stripe layout for the output directory (applied only on Lustre).</summary>
    public Execution.Striping Striping { get; init; } = Execution.Striping.Default;

    /// <summary>Dry run only: plan for this many ranks instead of the job's (plan a 96-rank job from a laptop).</summary>
    public int? PlanRanks { get; init; }

    /// <summary>The command line as typed, for the manifest.</summary>
    public IReadOnlyList<string> CommandLine { get; init; } = [];
}
