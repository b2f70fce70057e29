using System.CommandLine;
using System.Globalization;
using Ckptmpi.Errors;

namespace Ckptmpi.Formats.DeepSpeed;

/// <summary>DeepSpeed ZeRO stage 1/2/3 checkpoints: the reader, the step-0 writer, and their command-line options.</summary>
public sealed class ZeroFormat : ICheckpointFormat
{
    public const string FormatName = "zero";

    private readonly Option<int?> _zeroStage = new("--zero-stage") { Description = "ZeRO stage of the target (1, 2 or 3)." };
    /// <summary>The largest training job's data-parallel size we plan for: beyond any machine built so far.</summary>
    public const int MaxDpSize = 1 << 17;

    private readonly Option<int?> _dpSize = new("--dp-size") { Description = "Data-parallel world size of the training job the ZeRO checkpoint is for (independent of the ranks converting)." };
    private readonly Option<string?> _tag = new("--tag") { Description = "ZeRO tag folder (default: global_step0 when writing, the one in 'latest' when reading)." };
    private readonly Option<string?> _dsConfig = new("--ds-config") { Description = "The training job's DeepSpeed config JSON (optimizer, precision, stage, gradient clipping, loss scale) for the ZeRO target: the source of truth for the settings baked into it." };
    private readonly Option<bool> _withStates = new("--with-optimizer-states") { Description = "ZeRO -> HF: also write the full Adam moments as safetensors." };
    private readonly Option<string?> _optimizer = CreateOptimizerOption();
    private readonly Option<double?> _lr = new("--lr") { Description = "ZeRO target: learning rate in param_groups (default: --ds-config's; required without one)." };
    private readonly Option<string?> _betas = new("--betas") { Description = "ZeRO target: Adam betas as B1,B2 (default: --ds-config's; required without one)." };
    private readonly Option<double?> _eps = new("--eps") { Description = "ZeRO target: Adam epsilon (default: --ds-config's; required without one)." };
    private readonly Option<double?> _weightDecay = new("--weight-decay") { Description = "ZeRO target: weight decay (default: --ds-config's; required without one)." };
    private readonly Option<double?> _clip = new("--gradient-clipping") { Description = "ZeRO target: gradient_clipping, stored as the optimizer's clip_grad (default: --ds-config's; required without one)." };
    private readonly Option<double?> _lossScale = new("--loss-scale") { Description = "ZeRO target, fp16: fp16.loss_scale, 0 for dynamic scaling (default: --ds-config's; required without one)." };
    private readonly Option<int?> _scalePower = new("--initial-scale-power") { Description = "ZeRO target, fp16 dynamic scaling: initial scale 2^N (default: --ds-config's)." };
    private readonly Option<int?> _scaleWindow = new("--loss-scale-window") { Description = "ZeRO target, fp16 dynamic scaling: steps between scale increases (default: --ds-config's)." };
    private readonly Option<int?> _hysteresis = new("--hysteresis") { Description = "ZeRO target, fp16 dynamic scaling: overflows tolerated before the scale drops (default: --ds-config's)." };
    private readonly Option<double?> _minScale = new("--min-loss-scale") { Description = "ZeRO target, fp16 dynamic scaling: smallest scale (default: --ds-config's)." };
    private readonly Option<string?> _paramOrder = new("--param-order") { Description = "ZeRO target, for a model family ckptmpi does not know: a file of parameter names in named_parameters() order, one per line." };
    private readonly Option<string?> _config = new("--config") { Description = "--from zero: the config.json to carry into the output, beside the weights (default: the one beside 'latest' in the source checkpoint folder); --to/--from nxdt: the model's config.json (default: the one beside --input)." };

    public string Name => FormatName;

    public IFormatReader Reader { get; } = new ZeroReader();

    public IFormatWriter Writer { get; } = new ZeroWriter();

    public IReadOnlyList<Option> Options => [_zeroStage, _dpSize, _tag, _dsConfig, _withStates, _optimizer, _lr, _betas, _eps, _weightDecay, _clip, _lossScale, _scalePower, _scaleWindow, _hysteresis, _minScale, _paramOrder, _config];

    public FormatOptions Bind(ParseResult parse, FormatRole role)
    {
        int? stage = parse.GetValue(_zeroStage), dp = parse.GetValue(_dpSize);
        string? dsConfig = parse.GetValue(_dsConfig), tag = parse.GetValue(_tag);
        if (stage is not null and not (1 or 2 or 3)) throw new FormatOptionException(_zeroStage.Name, $"--zero-stage must be 1, 2 or 3, got {stage}");
        if (dp is < 1) throw new FormatOptionException(_dpSize.Name, $"--dp-size must be at least 1, got {dp}");
        // Every data-parallel rank gets files of its own: bound them before a plan is sized by the number.
        if (dp > MaxDpSize) throw new FormatOptionException(_dpSize.Name, $"--dp-size {dp} is more than ckptmpi's limit of {MaxDpSize} data-parallel ranks (each gets its own files)");
        if (tag is not null && !DeepSpeedPaths.IsValidTag(tag)) throw new FormatOptionException(_tag.Name, $"--tag '{tag}' is not a valid folder name");
        OptimizerOverrides optimizer = Overrides(parse);
        if (role.HasFlag(FormatRole.Write))
        {
            if (dp is null) throw new FormatOptionException(_dpSize.Name, "--to zero needs --dp-size (the training job's data-parallel size)");
            if (stage is null && dsConfig is null) throw new FormatOptionException(_zeroStage.Name, "--to zero needs --zero-stage or a --ds-config that names zero_optimization.stage");
        }
        else if (!optimizer.IsEmpty)
        {
            throw new FormatOptionException(_optimizer.Name, "--optimizer, --lr, --betas, --eps, --weight-decay, --gradient-clipping and the loss-scale options apply to --to zero only");
        }
        string? paramOrder = parse.GetValue(_paramOrder);
        if (paramOrder is not null && !role.HasFlag(FormatRole.Write)) throw new FormatOptionException(_paramOrder.Name, "--param-order applies to --to zero only");
        return new ZeroOptions
        {
            ZeroStage = stage, DpSize = dp, Tag = tag, DsConfig = dsConfig, Optimizer = optimizer, ParamOrder = paramOrder,
            WithOptimizerStates = parse.GetValue(_withStates), Config = parse.GetValue(_config),
        };
    }

    public FormatOptions Defaults(string? version = null) => new ZeroOptions { Tag = version };

    private static Option<string?> CreateOptimizerOption()
    {
        var o = new Option<string?>("--optimizer") { Description = "ZeRO target: optimizer in param_groups, adamw or adam (default: --ds-config's; required without one)." };
        o.AcceptOnlyFromAmong("adamw", "adam", "AdamW", "Adam");
        return o;
    }

    /// <exception cref="FormatOptionException">a value is out of range.</exception>
    private OptimizerOverrides Overrides(ParseResult parse)
    {
        string? type = parse.GetValue(_optimizer), betas = parse.GetValue(_betas);
        double? lr = parse.GetValue(_lr), eps = parse.GetValue(_eps), weightDecay = parse.GetValue(_weightDecay);
        double? b1 = null, b2 = null;
        if (betas is not null)
        {
            string[] parts = betas.Split(',', StringSplitOptions.TrimEntries);
            if (parts.Length != 2
                || !double.TryParse(parts[0], NumberStyles.Float, CultureInfo.InvariantCulture, out double p1)
                || !double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out double p2)
                || p1 is < 0 or >= 1 || p2 is < 0 or >= 1)
                throw new FormatOptionException(_betas.Name, $"--betas must be two numbers in [0, 1) separated by a comma, e.g. 0.9,0.95; got '{betas}'");
            (b1, b2) = (p1, p2);
        }
        if (lr is double l && !(l >= 0 && double.IsFinite(l))) throw new FormatOptionException(_lr.Name, $"--lr must be a finite number >= 0, got {lr}");
        if (eps is double e && !(e > 0 && double.IsFinite(e))) throw new FormatOptionException(_eps.Name, $"--eps must be a positive finite number, got {eps}");
        if (weightDecay is double w && !(w >= 0 && double.IsFinite(w))) throw new FormatOptionException(_weightDecay.Name, $"--weight-decay must be a finite number >= 0, got {weightDecay}");
        double? clip = parse.GetValue(_clip), lossScale = parse.GetValue(_lossScale), minScale = parse.GetValue(_minScale);
        int? power = parse.GetValue(_scalePower), window = parse.GetValue(_scaleWindow), hysteresis = parse.GetValue(_hysteresis);
        if (clip is double c && !(c >= 0 && double.IsFinite(c))) throw new FormatOptionException(_clip.Name, $"--gradient-clipping must be a finite number >= 0 (0 = off), got {c}");
        if (lossScale is double ls && !(ls >= 0 && double.IsFinite(ls))) throw new FormatOptionException(_lossScale.Name, $"--loss-scale must be 0 (dynamic) or a positive finite scale, got {ls}");
        if (power is < 0 or > 64) throw new FormatOptionException(_scalePower.Name, $"--initial-scale-power must be from 0 to 64, got {power}");
        if (window is < 1) throw new FormatOptionException(_scaleWindow.Name, $"--loss-scale-window must be at least 1, got {window}");
        if (hysteresis is < 1) throw new FormatOptionException(_hysteresis.Name, $"--hysteresis must be at least 1, got {hysteresis}");
        if (minScale is double m && !(m > 0 && double.IsFinite(m))) throw new FormatOptionException(_minScale.Name, $"--min-loss-scale must be a positive finite number, got {m}");
        return new OptimizerOverrides
        {
            Type = type is null ? null : type.Equals("adam", StringComparison.OrdinalIgnoreCase) ? "Adam" : "AdamW",
            Lr = lr, Beta1 = b1, Beta2 = b2, Eps = eps, WeightDecay = weightDecay, GradientClipping = clip,
            LossScale = lossScale, InitialScalePower = power, LossScaleWindow = window, Hysteresis = hysteresis, MinLossScale = minScale,
        };
    }
}
