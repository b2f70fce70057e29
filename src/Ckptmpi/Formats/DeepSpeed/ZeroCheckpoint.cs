using System.Globalization;
using Ckptmpi.Errors;
using Ckptmpi.Formats.Torch;
using Ckptmpi.Formats.Torch.Pickle;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;
using static Ckptmpi.Formats.DeepSpeed.PyRead;

namespace Ckptmpi.Formats.DeepSpeed;

// What is read and why: docs/formats/deepspeed-zero.md (files, dicts, partition math, what zero_to_fp32 rebuilds).

/// <summary>
/// Reads a DeepSpeed ZeRO checkpoint (stage 1, 2, 3; bf16, fp16 or fp32 runs; DeepSpeedZeroOptimizer, BF16_Optimizer
/// and stage-3 sub-groups; DeepSpeed 0.9 to current) into a <see cref="SourceCatalog"/> from the pickles alone: the
/// canonical tensors are the fp32 master weights, as pieces of the optimizer files' storages; frozen params and
/// buffers come from the model-state files; tied aliases repeat their owner's pieces. The set of rank files comes from
/// the checkpoint's metadata (<c>partition_count</c>, <c>dp_world_size</c>), never a glob.
/// </summary>
/// <remarks>
/// Catalog names: HF parameter names. With <c>withOptimizerStates</c>, each trainable param also gets
/// <c>{name}.exp_avg</c> and <c>{name}.exp_avg_sq</c> (fp32, the param's shape) and, when the optimizer keeps
/// <c>step</c> as a tensor (torch Adam), <c>{name}.step</c> (a 0-dim tensor); an int step (FusedAdam) is
/// <see cref="ZeroCheckpointInfo.Step"/>. What the checkpoint says about itself (stage, dp size, optimizer, tag,
/// versions) is <see cref="ZeroSource.Info"/>.
/// </remarks>
public static class ZeroCheckpoint
{
    /// <summary>Suffixes of the optimizer-state tensors exposed with <c>withOptimizerStates</c>.</summary>
    public const string ExpAvgSuffix = ".exp_avg", ExpAvgSqSuffix = ".exp_avg_sq", StepSuffix = ".step";

    /// <summary>Opens the checkpoint under <paramref name="dir"/> (the folder holding <c>latest</c>) at <paramref name="tag"/> (default: the tag named in <c>latest</c>).</summary>
    /// <exception cref="CheckpointFormatException">Missing <c>latest</c> or tag folder, a missing, extra or mismatched rank file, inconsistent metadata, partitions that do not add up.</exception>
    /// <exception cref="UnsupportedCheckpointException">Pipeline or tensor parallel checkpoints, MoE groups with different partition counts, elastic optimizer state.</exception>
    public static SourceCatalog Open(string dir, string? tag = null, bool withOptimizerStates = false) => Read(dir, tag, withOptimizerStates).Catalog;

    /// <summary>As <see cref="Open"/>, with what the checkpoint's metadata says about the run that saved it.</summary>
    public static ZeroSource Read(string dir, string? tag = null, bool withOptimizerStates = false)
    {
        (string tagName, string tagDir) = ResolveTag(dir, tag);
        return new ZeroCheckpointReader(tagName, tagDir, withOptimizerStates).Read();
    }

    /// <summary>
    /// One model-parallel rank of a pipeline/tensor-parallel tag folder (Megatron-DeepSpeed's
    /// <c>mp_rank_XX_model_states.pt</c> and its <c>[bf16_]zero_pp_rank_D_mp_rank_XX_optim_states.pt</c>): the catalog
    /// names are the engine's parameter names (<c>2.self_attention.query_key_value.weight</c>) with the rank's local
    /// shapes; the layer files and other ranks' files in the folder are not read.
    /// </summary>
    public static ZeroSource ReadModelParallelRank(string tagDir, string tag, int mpRank, bool withOptimizerStates = false) =>
        new ZeroCheckpointReader(tag, tagDir, withOptimizerStates, mpRank).Read();

    /// <summary>The tag to read and its folder.</summary>
    public static (string Tag, string TagDir) ResolveTag(string dir, string? tag)
    {
        if (!Directory.Exists(dir)) throw new CheckpointFormatException(dir, null, "checkpoint directory does not exist");
        bool fromLatest = tag is null;
        if (tag is null)
        {
            string latest = Path.Combine(dir, DeepSpeedPaths.Latest);
            if (!File.Exists(latest))
                throw new CheckpointFormatException(latest, null, $"no '{DeepSpeedPaths.Latest}' file, so no default tag; pass --tag ({TagsHint(dir)})");
            tag = DeepSpeedPaths.ReadLatest(latest);
        }
        else if (!DeepSpeedPaths.IsValidTag(tag))
        {
            throw new CheckpointFormatException(dir, null, $"--tag '{DeepSpeedPaths.Shorten(tag)}' is not a tag folder name: a tag is one folder inside the checkpoint directory");
        }
        string tagDir = Path.Combine(dir, tag);
        if (Directory.Exists(tagDir) && new DirectoryInfo(tagDir).LinkTarget is string target)
            throw new CheckpointFormatException(tagDir, null, $"the tag folder is a link to {target}; a tag folder must be inside the checkpoint directory");
        if (!Directory.Exists(tagDir))
            throw new CheckpointFormatException(tagDir, null, $"tag folder '{tag}'{(fromLatest ? $" named by '{DeepSpeedPaths.Latest}'" : "")} does not exist ({TagsHint(dir)})");
        return (tag, tagDir);
    }

    private static string TagsHint(string dir)
    {
        string[] tags = Directory.GetDirectories(dir).Select(Path.GetFileName).Where(n => n is not null).Select(n => n!).Order(StringComparer.Ordinal).ToArray();
        return tags.Length == 0 ? "the directory has no tag folders" : $"tag folders here: {string.Join(", ", tags.Take(10))}";
    }
}
