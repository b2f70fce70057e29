using Ckptmpi.Formats.DeepSpeed;

namespace Ckptmpi.Tests.Conversion;

/// <summary>
/// A complete set of training-job settings for HF -> ZeRO runs without a ds_config (the writer refuses to fall back
/// to defaults): the values of the shared fixtures' ds_config (AdamW, lr 1e-3, betas 0.9/0.999, eps 1e-8, weight decay
/// 0.01, gradient clipping 1.0).
/// </summary>
public static class TrainingSettingsForTests
{
    public static OptimizerOverrides Bf16 { get; } = new()
    {
        Type = "AdamW", Lr = 1e-3, Beta1 = 0.9, Beta2 = 0.999, Eps = 1e-8, WeightDecay = 0.01, GradientClipping = 1.0,
    };

    public static OptimizerOverrides Fp16 { get; } = Bf16 with { LossScale = 0, InitialScalePower = 8, LossScaleWindow = 1000, Hysteresis = 2, MinLossScale = 1 };

    /// <summary><see cref="Bf16"/> as command-line options.</summary>
    public static string[] Args { get; } =
        ["--optimizer", "adamw", "--lr", "1e-3", "--betas", "0.9,0.999", "--eps", "1e-8", "--weight-decay", "0.01", "--gradient-clipping", "1.0"];

    /// <summary>ZeRO writer options with <see cref="Bf16"/>.</summary>
    public static ZeroOptions Zero(int stage, int dp) => new() { ZeroStage = stage, DpSize = dp, Optimizer = Bf16 };
}
