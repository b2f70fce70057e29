using System.Globalization;
using Ckptmpi.Errors;
using Ckptmpi.Formats.DeepSpeed;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Formats.MegaDs;

/// <summary>
/// The training state a megads target carries over from a trained source (another megads topology, a universal
/// checkpoint, a ZeRO checkpoint of the same HF names): the Adam moments of every HF tensor (catalog tensors
/// <c>{name}.exp_avg</c>, <c>{name}.exp_avg_sq</c>), laid into the new partitions beside the fp32 masters, the optimizer
/// step, the iteration and the tag. torch Adam (Megatron's 'adam'/'adamw') keeps the step as a 0-dim fp32 tensor per
/// param group: copied from the source's <c>{name}.step</c> of the group's first parameter, or written from the
/// source's step number when the source's optimizer kept a number (FusedAdam). FusedAdam keeps a Python int.
/// </summary>
internal sealed record MegaDsResume
{
    /// <summary>The iteration the source was saved at (Megatron's <c>iteration</c>, DeepSpeed's <c>global_steps</c>).</summary>
    public required long Iteration { get; init; }

    public required string Tag { get; init; }

    /// <summary>The source's step number; null when the source keeps a step tensor per parameter (torch Adam), which is then copied.</summary>
    public long? StepNumber { get; init; }

    /// <summary>Whether the target's optimizer is FusedAdam (an int step in the state and <c>step: 0</c> in the group) rather than torch Adam.</summary>
    public bool Fused { get; init; }

    /// <summary>The source's state tensors of <c>.step</c>, for <see cref="Redundant"/>.</summary>
    public IReadOnlyList<string> StepTensors { get; init; } = [];

    /// <summary>The source's iteration from its training state: DeepSpeed's <c>global_steps</c>, else its step.</summary>
    public static long? IterationOf(TrainingState training) =>
        training.Counters.TryGetValue("global_steps", out long g) ? g
        : long.TryParse(training.Step, NumberStyles.None, CultureInfo.InvariantCulture, out long s) ? s : null;

    /// <summary>The state to carry from <paramref name="training"/> into a target that trains every tensor of <paramref name="weights"/>.</summary>
    /// <exception cref="UnsupportedCheckpointException">a weight without both moments (or a step) in the source, or no iteration.</exception>
    /// <exception cref="FormatOptionException">--iteration contradicts the source's, or the step's form cannot be carried.</exception>
    public static MegaDsResume From(TrainingState training, IReadOnlyList<string> weights, SourceCatalog catalog, long? iteration, string? tag, bool fused)
    {
        var missing = weights.SelectMany(n => new[] { n + ZeroCheckpoint.ExpAvgSuffix, n + ZeroCheckpoint.ExpAvgSqSuffix }).Where(n => !catalog.Contains(n)).ToList();
        if (missing.Count > 0)
            throw new UnsupportedCheckpointException(catalog.Root,
                $"the source's optimizer state has no Adam moments for {string.Join(", ", missing.Take(4))}{(missing.Count > 4 ? $" (+{missing.Count - 4} more)" : "")}, which the megads target trains");
        long source = IterationOf(training)
            ?? throw new UnsupportedCheckpointException(catalog.Root, $"the source's training state ({training.Description}) has no iteration to resume from");
        if (iteration is long given && given != source)
            throw new FormatOptionException("--iteration",
                $"--iteration {given}, but the source's Adam state is at iteration {source}: the moments, the step and the schedule go together (drop --iteration)");
        var steps = training.StateTensors.Where(n => n.EndsWith(ZeroCheckpoint.StepSuffix, StringComparison.Ordinal)).ToList();
        long? number = null;
        if (steps.Count > 0)
        {
            if (fused)
                throw new FormatOptionException("--megatron-args",
                    "the source's optimizer (torch Adam) keeps the step as a tensor per param, the target's (DeepSpeed's FusedAdam, ds_fused_adam) as a number: drop ds_fused_adam to carry the step");
            foreach (string n in weights)
                if (!catalog.Contains(n + ZeroCheckpoint.StepSuffix))
                    throw new UnsupportedCheckpointException(catalog.Root, $"the source's optimizer state has no step for {n}");
        }
        else
        {
            // FusedAdam's step is one number; torch Adam's tensor holds it as fp32, exact below 2^24.
            if (training.Step is not string s || !long.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out long n))
                throw new UnsupportedCheckpointException(catalog.Root, "the source's optimizer state has Adam moments but no step");
            if (!fused && n >= 1 << 24)
                throw new UnsupportedCheckpointException(catalog.Root, $"step {n} is not exact in torch Adam's fp32 step tensor");
            number = n;
        }
        return new MegaDsResume
        {
            Iteration = source, Tag = tag ?? training.Tag ?? DeepSpeedPaths.DefaultTag(source), StepNumber = number, Fused = fused, StepTensors = steps,
        };
    }

    /// <summary>The source's step tensors no param group copies (the target writes one per group).</summary>
    public IReadOnlyCollection<string> Redundant(IEnumerable<string> used)
    {
        var u = used.Select(n => n + ZeroCheckpoint.StepSuffix).ToHashSet(StringComparer.Ordinal);
        return StepTensors.Where(n => !u.Contains(n)).ToList();
    }
}
