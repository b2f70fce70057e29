using Ckptmpi.Tensors;

namespace Ckptmpi.Formats.DeepSpeed;

/// <summary>
/// What a ZeRO checkpoint is written for: the training job's ZeRO stage, data-parallel size and dtype, the tag,
/// the DeepSpeed config stored in every file, and the optimizer settings that end up in <c>param_groups</c>.
/// <see cref="FromDsConfig"/> fills the settings from a <c>ds_config.json</c>.
/// </summary>
public sealed record ZeroWriteOptions
{
    /// <summary>ZeRO stage: 1, 2 or 3.</summary>
    public required int Stage { get; init; }

    /// <summary>The training job's data-parallel world size (the number of optimizer-state files).</summary>
    public required int DpSize { get; init; }

    /// <summary>Training dtype: BF16 (files get the <c>bf16_</c> prefix), F16 (dynamic loss scaling) or F32.</summary>
    public DType DType { get; init; } = DType.BF16;

    public string Tag { get; init; } = "global_step0";

    /// <summary>The DeepSpeed config JSON stored as <c>ds_config</c> (a dict); null stores one built from these options.</summary>
    public string? DsConfigJson { get; init; }

    /// <summary>Written as <c>ds_version</c>: the version whose layout this writer reproduces.</summary>
    public string DsVersion { get; init; } = "0.14.4";

    public ZeroOptimizerSettings Optimizer { get; init; } = new();

    /// <summary>The trained state carried over (a reshard); null: a fresh step-0 checkpoint with empty Adam state.</summary>
    internal ZeroResumeState? Resume { get; init; }

    /// <summary><c>gradient_clipping</c> (the optimizer file's <c>clip_grad</c>).</summary>
    public double GradientClipping { get; init; }

    /// <summary><c>zero_optimization.sub_group_size</c> (stage 3 only).</summary>
    public long SubGroupSize { get; init; } = Zero3Partitioning.DefaultSubGroupSize;

    /// <summary>fp16 only: <c>fp16.loss_scale</c> (0 = dynamic scaling).</summary>
    public double StaticLossScale { get; init; }

    /// <summary>fp16 dynamic scaling: <c>initial_scale_power</c>, <c>loss_scale_window</c>, <c>hysteresis</c>, <c>min_loss_scale</c>, <c>consecutive_hysteresis</c>.</summary>
    public int InitialScalePower { get; init; } = 16;
    public int LossScaleWindow { get; init; } = 1000;
    public int Hysteresis { get; init; } = 2;
    public double MinLossScale { get; init; } = 1;
    public bool ConsecutiveHysteresis { get; init; }

    /// <summary>Checks the values a writer depends on.</summary>
    /// <exception cref="ArgumentException">an invalid stage, dp size, dtype or tag.</exception>
    public void Validate()
    {
        if (Stage is < 1 or > 3) throw new ArgumentException($"ZeRO stage must be 1, 2 or 3, not {Stage}", nameof(Stage));
        if (DpSize < 1) throw new ArgumentException($"dp size must be at least 1, not {DpSize}", nameof(DpSize));
        if (DType is not (DType.BF16 or DType.F16 or DType.F32))
            throw new ArgumentException($"training dtype must be bf16, fp16 or fp32, not {DType.TorchName()}", nameof(DType));
        DeepSpeedPaths.ValidateTag(Tag);
        if (SubGroupSize < 1) throw new ArgumentException("sub_group_size must be positive", nameof(SubGroupSize));
    }

    /// <summary>Every setting written into the checkpoint, on one line (rank 0 logs it, so a user sees what was baked in).</summary>
    public string Describe()
    {
        var ci = System.Globalization.CultureInfo.InvariantCulture;
        ZeroOptimizerSettings p = Optimizer;
        string scale = DType != DType.F16 ? "" : StaticLossScale > 0
            ? string.Create(ci, $", static loss_scale {StaticLossScale:R}")
            : string.Create(ci, $", dynamic loss scale (initial_scale_power {InitialScalePower}, loss_scale_window {LossScaleWindow}, hysteresis {Hysteresis}, min_loss_scale {MinLossScale:R})");
        return string.Create(ci, $"ZeRO-{Stage}, dp {DpSize}, {DType.TorchName()}, tag {Tag}, {(p.TorchAdam ? "torch " : "")}{p.Type} lr {p.Lr:R} betas [{p.Beta1:R}, {p.Beta2:R}] eps {p.Eps:R} weight_decay {p.WeightDecay:R}, gradient_clipping {GradientClipping:R}{scale}");
    }

    /// <summary>
    /// Options from a DeepSpeed config: <c>zero_optimization.stage</c> and <c>sub_group_size</c>, <c>bf16</c>/<c>fp16</c>
    /// (with its loss-scaling keys), <c>optimizer</c> (type and params, <c>torch_adam</c>), <c>gradient_clipping</c>.
    /// Values given explicitly by the caller (stage, dp size) win when not null.
    /// </summary>
    public static ZeroWriteOptions FromDsConfig(string dsConfigJson, int dpSize, int? stage = null, DType? dtype = null, string? tag = null) =>
        DsConfig.ToOptions(dsConfigJson, dpSize, stage, dtype, tag);
}

/// <summary>
/// The optimizer DeepSpeed builds from the config's <c>optimizer</c> section. <see cref="TorchAdam"/> selects
/// torch.optim.Adam/AdamW (<c>"torch_adam": true</c>; group keys of torch 1.13 as in the fixtures); otherwise
/// DeepSpeed's FusedAdam (<c>lr, bias_correction, betas, eps, weight_decay</c>).
/// </summary>
public sealed record ZeroOptimizerSettings
{
    /// <summary>"AdamW" or "Adam".</summary>
    public string Type { get; init; } = "AdamW";
    public double Lr { get; init; } = 1e-3;
    public double Beta1 { get; init; } = 0.9;
    public double Beta2 { get; init; } = 0.999;
    public double Eps { get; init; } = 1e-8;
    public double WeightDecay { get; init; } = 0.01;
    public bool TorchAdam { get; init; }
    public bool BiasCorrection { get; init; } = true;
}
