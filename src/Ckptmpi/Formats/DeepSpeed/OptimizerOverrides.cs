namespace Ckptmpi.Formats.DeepSpeed;

/// <summary>
/// Optimizer hyper-parameters given on the command line (<c>--optimizer --lr --betas --eps --weight-decay</c>) for a ZeRO
/// target: they end up in the optimizer's <c>param_groups</c>. Each one given wins over <c>--ds-config</c>; each one
/// absent keeps the ds_config's value (or DeepSpeed's default without one).
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

    public bool IsEmpty => Type is null && Lr is null && Beta1 is null && Beta2 is null && Eps is null && WeightDecay is null;

    public ZeroOptimizerSettings ApplyTo(ZeroOptimizerSettings s) => s with
    {
        Type = Type ?? s.Type,
        Lr = Lr ?? s.Lr,
        Beta1 = Beta1 ?? s.Beta1,
        Beta2 = Beta2 ?? s.Beta2,
        Eps = Eps ?? s.Eps,
        WeightDecay = WeightDecay ?? s.WeightDecay,
    };
}
