using Ckptmpi.Errors;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Formats.DeepSpeed;

/// <summary>
/// The training state a ZeRO target carries over from a trained source (a reshard to another --dp-size or stage): each
/// trainable param's Adam moments (catalog tensors <c>{name}.exp_avg</c>, <c>{name}.exp_avg_sq</c>, laid into the new
/// partitions beside the fp32 masters), the optimizer step, and the engine's counters. The step keeps the form the
/// target's optimizer keeps it in: torch Adam holds a 0-dim fp32 tensor per param (one per group in the file, copied
/// from the group's first param; the other params' copies are <see cref="Redundant"/>), FusedAdam a Python int.
/// </summary>
internal sealed record ZeroResumeState
{
    /// <summary>The step as the Python int FusedAdam keeps; null when it is the source's <c>.step</c> tensor (torch Adam).</summary>
    public long? StepNumber { get; init; }

    /// <summary><c>global_steps</c>, <c>global_samples</c>, <c>skipped_steps</c> for the model-state files.</summary>
    public IReadOnlyDictionary<string, long> Counters { get; init; } = new Dictionary<string, long>();

    /// <summary>The per-param <c>.step</c> copies the output does not need (one per group is written).</summary>
    public IReadOnlyCollection<string> Redundant { get; init; } = [];

    /// <summary>The state to carry from <paramref name="training"/> into the trainable params of the target.</summary>
    /// <exception cref="UnsupportedCheckpointException">a trainable param without both moments in the source.</exception>
    /// <exception cref="FormatOptionException">the target's optimizer keeps the step in the other form than the source's.</exception>
    public static ZeroResumeState From(TrainingState training, IReadOnlyList<ParamSpec> trainable, ZeroWriteOptions write, SourceCatalog catalog)
    {
        var missing = trainable.SelectMany(p => new[] { p.Name + ZeroCheckpoint.ExpAvgSuffix, p.Name + ZeroCheckpoint.ExpAvgSqSuffix })
            .Where(n => !catalog.Contains(n)).ToList();
        if (missing.Count > 0)
            throw new UnsupportedCheckpointException(catalog.Root,
                $"the source's optimizer state has no Adam moments for {string.Join(", ", missing.Take(4))}{(missing.Count > 4 ? $" (+{missing.Count - 4} more)" : "")}, which the target trains");
        var steps = training.StateTensors.Where(n => n.EndsWith(ZeroCheckpoint.StepSuffix, StringComparison.Ordinal)).ToList();
        long? number = null;
        if (steps.Count > 0)
        {
            if (!write.Optimizer.TorchAdam)
                throw new FormatOptionException("--ds-config",
                    "the source's optimizer (torch Adam) keeps the step as a tensor per param, the target's (DeepSpeed's FusedAdam) as a number: "
                    + "give a --ds-config whose optimizer params set \"torch_adam\": true to carry the step");
            foreach (ParamSpec p in trainable)
                if (!catalog.Contains(p.Name + ZeroCheckpoint.StepSuffix))
                    throw new UnsupportedCheckpointException(catalog.Root, $"the source's optimizer state has no step for {p.Name}");
        }
        else
        {
            if (training.Step is not string s || !long.TryParse(s, out long n))
                throw new UnsupportedCheckpointException(catalog.Root, "the source's optimizer state has Adam moments but no step");
            if (write.Optimizer.TorchAdam)
                throw new FormatOptionException("--ds-config",
                    "the source's optimizer (DeepSpeed's FusedAdam) keeps the step as a number, the target's (torch Adam) as a tensor: drop \"torch_adam\" from the --ds-config to carry the step");
            number = n;
        }
        var used = new HashSet<string>(GroupStepSources(trainable, write).Select(n => n + ZeroCheckpoint.StepSuffix), StringComparer.Ordinal);
        return new ZeroResumeState
        {
            StepNumber = number,
            Counters = training.Counters,
            Redundant = steps.Where(n => !used.Contains(n)).ToList(),
        };
    }

    /// <summary>The params whose <c>.step</c> each optimizer group's step is copied from: the group's first param.</summary>
    public static IEnumerable<string> GroupStepSources(IReadOnlyList<ParamSpec> trainable, ZeroWriteOptions write)
    {
        if (trainable.Count == 0) yield break;
        if (write.Stage <= 2)
        {
            yield return trainable[0].Name;
            yield break;
        }
        var z3 = Zero3Partitioning.For(trainable.Select(p => p.ElementCount).ToList(), write.DpSize, write.SubGroupSize);
        for (int g = 0; g < z3.SubGroupCount; g++) yield return trainable[z3.SubGroup(g).First].Name;
    }
}
