using Ckptmpi.Tensors;

namespace Ckptmpi.Formats.DeepSpeed;

/// <summary>
/// The training job's settings given on the command line for a ZeRO target: the optimizer's <c>param_groups</c>
/// (<c>--optimizer --lr --betas --eps --weight-decay</c>), <c>--gradient-clipping</c> (the optimizer file's
/// <c>clip_grad</c>, which DeepSpeed restores over the training config) and, for fp16, the loss scaler (DeepSpeed's
/// <c>fp16</c> keys). Each one given wins over <c>--ds-config</c>. Without a <c>--ds-config</c> every one of them must be
/// given: a default would be baked into the checkpoint and silently replace what the training job uses.
/// </summary>
public sealed record OptimizerOverrides
{
    /// <summary>"Adam" or "AdamW".</summary>
    public string? Type { get; init; }
    public double? Lr { get; init; }
    public double? Beta1 { get; init; }
    public double? Beta2 { get; init; }
    public double? Eps { get; init; }
    public double? WeightDecay { get; init; }
    public double? GradientClipping { get; init; }

    /// <summary>fp16 <c>loss_scale</c>: 0 for dynamic scaling, else the static scale.</summary>
    public double? LossScale { get; init; }
    public int? InitialScalePower { get; init; }
    public int? LossScaleWindow { get; init; }
    public int? Hysteresis { get; init; }
    public double? MinLossScale { get; init; }

    public bool IsEmpty => this == new OptimizerOverrides();

    /// <summary>Any of the fp16 loss-scale options is given.</summary>
    public bool SetsLossScale => LossScale is not null || InitialScalePower is not null || LossScaleWindow is not null || Hysteresis is not null || MinLossScale is not null;

    /// <summary>The options a run without <c>--ds-config</c> still lacks for <paramref name="dtype"/>, as option names.</summary>
    public IReadOnlyList<string> MissingWithoutDsConfig(DType dtype)
    {
        var missing = new List<string>();
        void Need(bool given, string option) { if (!given) missing.Add(option); }
        Need(Type is not null, "--optimizer");
        Need(Lr is not null, "--lr");
        Need(Beta1 is not null && Beta2 is not null, "--betas");
        Need(Eps is not null, "--eps");
        Need(WeightDecay is not null, "--weight-decay");
        Need(GradientClipping is not null, "--gradient-clipping");
        if (dtype == DType.F16)
        {
            Need(LossScale is not null, "--loss-scale");
            // A static scale (loss_scale > 0) makes the dynamic scaler's keys meaningless.
            if (LossScale is not > 0)
            {
                Need(InitialScalePower is not null, "--initial-scale-power");
                Need(LossScaleWindow is not null, "--loss-scale-window");
                Need(Hysteresis is not null, "--hysteresis");
                Need(MinLossScale is not null, "--min-loss-scale");
            }
        }
        return missing;
    }

    public ZeroWriteOptions ApplyTo(ZeroWriteOptions o) => o with
    {
        Optimizer = o.Optimizer with
        {
            Type = Type ?? o.Optimizer.Type,
            Lr = Lr ?? o.Optimizer.Lr,
            Beta1 = Beta1 ?? o.Optimizer.Beta1,
            Beta2 = Beta2 ?? o.Optimizer.Beta2,
            Eps = Eps ?? o.Optimizer.Eps,
            WeightDecay = WeightDecay ?? o.Optimizer.WeightDecay,
        },
        GradientClipping = GradientClipping ?? o.GradientClipping,
        StaticLossScale = LossScale ?? o.StaticLossScale,
        InitialScalePower = InitialScalePower ?? o.InitialScalePower,
        LossScaleWindow = LossScaleWindow ?? o.LossScaleWindow,
        Hysteresis = Hysteresis ?? o.Hysteresis,
        MinLossScale = MinLossScale ?? o.MinLossScale,
    };
}
