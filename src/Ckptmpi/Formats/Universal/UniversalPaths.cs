namespace Ckptmpi.Formats.Universal;

/// <summary>File names of a DeepSpeed universal checkpoint (what <c>ds_to_universal</c> writes).</summary>
public static class UniversalPaths
{
    /// <summary>Beside the tag folders: names the universal tag, as <c>latest</c> names the ordinary one (no newline).</summary>
    public const string LatestUniversal = "latest_universal";

    /// <summary>The folder of per-parameter folders inside the tag folder.</summary>
    public const string Zero = "zero";

    /// <summary>The optimizer's hyperparameters (param_groups, clip_grad, ...), no tensors.</summary>
    public const string OptimizerState = "optimizer_state.pt";

    public const string Fp32 = "fp32", ExpAvg = "exp_avg", ExpAvgSq = "exp_avg_sq", Step = "step";

    /// <summary>The state files of one parameter folder, in the order ds_to_universal writes them.</summary>
    public static readonly string[] States = [Fp32, ExpAvg, ExpAvgSq];

    /// <summary>The universal tag of an ordinary tag, as Megatron-DeepSpeed's recipes name ds_to_universal's output folder.</summary>
    public static string TagFor(string tag) => tag + "_universal";

    /// <summary><c>{tag}/zero/{param}/{state}.pt</c>, '/'-separated.</summary>
    public static string StateFile(string tag, string param, string state) => $"{tag}/{Zero}/{param}/{state}.pt";
}
