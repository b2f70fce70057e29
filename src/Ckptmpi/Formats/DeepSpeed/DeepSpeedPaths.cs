using System.Globalization;
using System.Text.RegularExpressions;

namespace Ckptmpi.Formats.DeepSpeed;

// formats-deepspeed.md B.1-B.2. DeepSpeed builds these names in six places with different padding; here they
// are built in one. All paths are relative to the checkpoint root (the folder holding `latest`).

/// <summary>Every file and folder name of a DeepSpeed <c>save_checkpoint</c> directory (non-pipeline).</summary>
public static partial class DeepSpeedPaths
{
    /// <summary>ASCII tag of the newest checkpoint, no newline; written last by global rank 0.</summary>
    public const string Latest = "latest";

    private const string ModelStatesSuffix = "_model_states.pt";
    private const string OptimStatesSuffix = "_optim_states.pt";
    private const string Bf16Prefix = "bf16_";

    /// <summary>DeepSpeed's default tag: <c>global_step{N}</c>.</summary>
    public static string DefaultTag(long globalSteps) => "global_step" + globalSteps.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// Model-parallel rank as DeepSpeed formats it: <c>{:02d}</c> (00, 01, ..., 100 once past 99).
    /// </summary>
    public static string MpRank(int mpRank)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(mpRank);
        return mpRank.ToString("00", CultureInfo.InvariantCulture);
    }

    /// <summary>ZeRO 0/1/2 (and BF16_Optimizer) model states, written by DP rank 0 only: <c>mp_rank_00_model_states.pt</c>.</summary>
    public static string ModelStates(int mpRank = 0) => $"mp_rank_{MpRank(mpRank)}{ModelStatesSuffix}";

    /// <summary>ZeRO-3 model states, one per DP rank: <c>zero_pp_rank_{d}_mp_rank_00_model_states.pt</c> (d not zero-padded).</summary>
    public static string Zero3ModelStates(int dpRank, int mpRank = 0) => $"{ZeroPpRank(dpRank, mpRank)}{ModelStatesSuffix}";

    /// <summary>
    /// Optimizer states of one DP rank: <c>[bf16_]zero_pp_rank_{d}_mp_rank_00_optim_states.pt</c>. The <c>bf16_</c>
    /// prefix appears exactly when the engine runs with <c>bf16.enabled</c>, for every ZeRO stage; fp16 and fp32
    /// runs have none.
    /// </summary>
    public static string OptimStates(int dpRank, bool bf16, int mpRank = 0) =>
        $"{(bf16 ? Bf16Prefix : "")}{ZeroPpRank(dpRank, mpRank)}{OptimStatesSuffix}";

    /// <summary>The model-state file name for a stage and DP rank (stage 3: one per rank; else rank 0's only).</summary>
    public static string ModelStatesFor(int stage, int dpRank, int mpRank = 0) =>
        stage >= 3 ? Zero3ModelStates(dpRank, mpRank) : ModelStates(mpRank);

    /// <summary><c>{tag}/{file}</c> with a forward slash (relative output paths are '/'-separated).</summary>
    public static string InTag(string tag, string file)
    {
        ValidateTag(tag);
        return tag + "/" + file;
    }

    /// <summary>A tag must be a single path component (DeepSpeed uses it as a folder name).</summary>
    public static void ValidateTag(string tag)
    {
        ArgumentException.ThrowIfNullOrEmpty(tag);
        if (!IsValidTag(tag)) throw new ArgumentException($"tag '{tag}' is not a valid folder name", nameof(tag));
    }

    /// <summary>Whether <paramref name="tag"/> is a single path component (what <see cref="ValidateTag"/> requires).</summary>
    public static bool IsValidTag(string tag) =>
        tag.Length > 0 && tag is not ("." or "..") && tag.IndexOfAny(['/', '\\', '\0', '\n', '\r']) < 0 && tag.Trim() == tag;

    /// <summary>Recognises an optimizer-state file name; returns its DP rank, MP rank and prefix.</summary>
    public static bool TryParseOptimStates(string fileName, out int dpRank, out int mpRank, out bool bf16)
    {
        Match m = OptimRegex().Match(fileName);
        dpRank = mpRank = -1;
        bf16 = false;
        if (!m.Success) return false;
        bf16 = m.Groups[1].Success;
        return int.TryParse(m.Groups[2].Value, NumberStyles.None, CultureInfo.InvariantCulture, out dpRank)
            && int.TryParse(m.Groups[3].Value, NumberStyles.None, CultureInfo.InvariantCulture, out mpRank);
    }

    private static string ZeroPpRank(int dpRank, int mpRank)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(dpRank);
        return $"zero_pp_rank_{dpRank.ToString(CultureInfo.InvariantCulture)}_mp_rank_{MpRank(mpRank)}";
    }

    [GeneratedRegex(@"^(bf16_)?zero_pp_rank_(\d+)_mp_rank_(\d+)_optim_states\.pt$")]
    private static partial Regex OptimRegex();
}
