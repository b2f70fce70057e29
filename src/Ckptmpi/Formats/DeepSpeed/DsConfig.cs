using System.Globalization;
using System.Text.Json;
using Ckptmpi.Formats.Torch.Pickle;
using Ckptmpi.Tensors;

namespace Ckptmpi.Formats.DeepSpeed;

/// <summary>
/// The DeepSpeed config: JSON to the Python dict DeepSpeed stores as <c>ds_config</c> (json.load's types: int for
/// integral literals, float for literals with a fraction or exponent, list, dict, bool, None), and the writer options
/// it implies.
/// </summary>
internal static class DsConfig
{
    public static PyValue ToPy(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => ObjectToPy(e),
        JsonValueKind.Array => new PyList(e.EnumerateArray().Select(ToPy).ToList()),
        JsonValueKind.String => new PyString(e.GetString()!),
        JsonValueKind.True => PyBool.True,
        JsonValueKind.False => PyBool.False,
        JsonValueKind.Null => PyNone.Instance,
        JsonValueKind.Number => NumberToPy(e),
        _ => throw new ArgumentException($"unexpected JSON value {e.ValueKind}"),
    };

    private static PyDict ObjectToPy(JsonElement e)
    {
        var d = new PyDict();
        foreach (JsonProperty p in e.EnumerateObject()) d.Add(p.Name, ToPy(p.Value));
        return d;
    }

    private static PyValue NumberToPy(JsonElement e)
    {
        string raw = e.GetRawText();
        if (raw.IndexOfAny(['.', 'e', 'E']) < 0)
            return new PyInt(System.Numerics.BigInteger.Parse(raw, CultureInfo.InvariantCulture));
        return new PyFloat(e.GetDouble());
    }

    /// <summary>The <c>ds_config</c> value to store: the caller's JSON, or a minimal config describing the options.</summary>
    public static PyValue For(ZeroWriteOptions o)
    {
        if (o.DsConfigJson is not null)
        {
            using JsonDocument doc = Parse(o.DsConfigJson);
            PyValue cfg = ToPy(doc.RootElement);
            // DeepSpeed pops these from the optimizer params (in place, before saving) while building the optimizer.
            if (cfg is PyDict root && root.Get("optimizer") is PyDict od && od.Get("params") is PyDict pd)
                pd.Items.RemoveAll(kv => kv.Key is PyString { Value: "torch_adam" or "adam_w_mode" });
            return cfg;
        }
        var opt = new PyDict();
        opt.Add("type", new PyString(o.Optimizer.Type));
        var p = new PyDict();
        p.Add("lr", new PyFloat(o.Optimizer.Lr));
        p.Add("betas", new PyList([new PyFloat(o.Optimizer.Beta1), new PyFloat(o.Optimizer.Beta2)]));
        p.Add("eps", new PyFloat(o.Optimizer.Eps));
        p.Add("weight_decay", new PyFloat(o.Optimizer.WeightDecay));
        opt.Add("params", p);
        var zero = new PyDict();
        zero.Add("stage", new PyInt(o.Stage));
        if (o.Stage == 3 && o.SubGroupSize != Zero3Partitioning.DefaultSubGroupSize) zero.Add("sub_group_size", new PyInt(o.SubGroupSize));
        var d = new PyDict();
        d.Add("train_micro_batch_size_per_gpu", new PyInt(1));
        d.Add("optimizer", opt);
        d.Add("gradient_clipping", new PyFloat(o.GradientClipping));
        d.Add("zero_optimization", zero);
        d.Add("bf16", Enabled(o.DType == DType.BF16));
        d.Add("fp16", Enabled(o.DType == DType.F16));
        return d;
    }

    private static PyDict Enabled(bool on)
    {
        var d = new PyDict();
        d.Add("enabled", on ? PyBool.True : PyBool.False);
        return d;
    }

    /// <summary>Deepest nesting a DeepSpeed config may have; real ones nest three or four levels.</summary>
    public const int MaxDepth = 64;

    /// <summary>Parses a DeepSpeed config as DeepSpeed's json.load would, with the nesting capped.</summary>
    /// <exception cref="ArgumentException">Not valid JSON, or nested deeper than <see cref="MaxDepth"/>.</exception>
    public static JsonDocument Parse(string json)
    {
        try
        {
            return JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = MaxDepth });
        }
        catch (JsonException e)
        {
            throw new ArgumentException($"the DeepSpeed config is not valid JSON (or nests deeper than {MaxDepth} levels): {e.Message}", e);
        }
    }

    /// <summary>
    /// The writer options a DeepSpeed config implies, every value checked as the command line's are: a value DeepSpeed
    /// would reject or train nonsense with (an infinite lr, a beta of 5, a negative eps, bf16 and fp16 both on, a stage
    /// other than <paramref name="stage"/>) is an error naming its key.
    /// </summary>
    /// <exception cref="ArgumentException">A value is invalid or contradicts the explicit options; the message names the key.</exception>
    public static ZeroWriteOptions ToOptions(string json, int dpSize, int? stage, DType? dtype, string? tag)
    {
        using JsonDocument doc = Parse(json);
        JsonElement root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw new ArgumentException($"the DeepSpeed config must be a JSON object, not {root.ValueKind}");
        JsonElement? zero = Get(root, "zero_optimization");
        int? configStage = zero is JsonElement z ? Int(z, "zero_optimization.stage", "stage", 0, 3) : null;
        if (stage is int st && configStage is int cs && st != cs)
            throw new ArgumentException($"DeepSpeed config key 'zero_optimization.stage' is {cs} but --zero-stage is {st}; the checkpoint must be written for the stage the training job runs");
        int s = stage ?? configStage ?? 0;
        bool? bf16 = Enabled(root, "bf16");
        JsonElement? fp16 = Get(root, "fp16");
        bool? f16 = Enabled(root, "fp16");
        if (bf16 == true && f16 == true)
            throw new ArgumentException("DeepSpeed config keys 'bf16.enabled' and 'fp16.enabled' are both true; DeepSpeed trains in one of them");
        if (dtype is null && (bf16 is null || f16 is null))
            throw new ArgumentException("the DeepSpeed config leaves bf16/fp16 'enabled' to 'auto' (HF Trainer fills it in); pass the training dtype explicitly (--dtype)");
        DType dt = dtype ?? (bf16 == true ? DType.BF16 : f16 == true ? DType.F16 : DType.F32);

        var opt = new ZeroOptimizerSettings();
        if (Get(root, "optimizer") is JsonElement oe)
        {
            string type = Get(oe, "type")?.GetString() ?? "AdamW";
            if (!type.Equals("adamw", StringComparison.OrdinalIgnoreCase) && !type.Equals("adam", StringComparison.OrdinalIgnoreCase))
                throw new ArgumentException($"optimizer type '{type}' is not supported; supported: Adam, AdamW");
            opt = opt with { Type = type.Equals("adam", StringComparison.OrdinalIgnoreCase) ? "Adam" : "AdamW" };
            if (Get(oe, "params") is JsonElement pe)
            {
                // FusedAdam's weight_decay default is 0; torch AdamW's is 0.01.
                bool torchAdam = Get(pe, "torch_adam") is JsonElement ta && ta.ValueKind == JsonValueKind.True;
                (double Beta1, double Beta2)? betas = Betas(pe);
                opt = opt with
                {
                    TorchAdam = torchAdam,
                    Lr = Num(pe, "optimizer.params.lr", "lr", min: 0) ?? opt.Lr,
                    Eps = Num(pe, "optimizer.params.eps", "eps", min: 0, exclusive: true) ?? opt.Eps,
                    WeightDecay = Num(pe, "optimizer.params.weight_decay", "weight_decay", min: 0) ?? (torchAdam && opt.Type == "AdamW" ? 0.01 : 0.0),
                    Beta1 = betas?.Beta1 ?? opt.Beta1,
                    Beta2 = betas?.Beta2 ?? opt.Beta2,
                    BiasCorrection = Get(pe, "bias_correction") is not JsonElement bc || bc.ValueKind != JsonValueKind.False,
                };
            }
        }
        var o = new ZeroWriteOptions
        {
            Stage = s,
            DpSize = dpSize,
            DType = dt,
            Tag = tag ?? "global_step0",
            DsConfigJson = json,
            Optimizer = opt,
            GradientClipping = Num(root, "gradient_clipping", "gradient_clipping", min: 0) ?? 0.0,
            SubGroupSize = zero is JsonElement z2 && Num(z2, "zero_optimization.sub_group_size", "sub_group_size", min: 1) is double sg ? (long)sg : Zero3Partitioning.DefaultSubGroupSize,
        };
        if (fp16 is JsonElement f2)
        {
            o = o with
            {
                StaticLossScale = Num(f2, "fp16.loss_scale", "loss_scale", min: 0) ?? 0,
                InitialScalePower = Int(f2, "fp16.initial_scale_power", "initial_scale_power", 0, 64) ?? 16,
                LossScaleWindow = Int(f2, "fp16.loss_scale_window", "loss_scale_window", 1, int.MaxValue) ?? 1000,
                Hysteresis = Int(f2, "fp16.hysteresis", "hysteresis", 1, int.MaxValue) ?? 2,
                MinLossScale = Num(f2, "fp16.min_loss_scale", "min_loss_scale", min: 0, exclusive: true) ?? 1,
                ConsecutiveHysteresis = Get(f2, "consecutive_hysteresis") is JsonElement ch && ch.ValueKind == JsonValueKind.True,
            };
        }
        o.Validate();
        return o;
    }

    /// <summary>
    /// A finite number of at least <paramref name="min"/> (above it when <paramref name="exclusive"/>), or null when absent,
    /// null or "auto" (HF Trainer configs leave values to the trainer).
    /// </summary>
    /// <exception cref="ArgumentException">Not a number or "auto", not finite (1e400), or out of range; names <paramref name="path"/>.</exception>
    private static double? Num(JsonElement e, string path, string key, double min = double.NegativeInfinity, bool exclusive = false)
    {
        if (Get(e, key) is not JsonElement v) return null;
        if (v.ValueKind == JsonValueKind.String && v.GetString() == "auto") return null;
        if (v.ValueKind != JsonValueKind.Number)
            throw new ArgumentException($"DeepSpeed config key '{path}' should be a number, not {v.GetRawText()}");
        if (!v.TryGetDouble(out double d) || !double.IsFinite(d))
            throw new ArgumentException($"DeepSpeed config key '{path}' is {v.GetRawText()}, which is not a finite number");
        if (d < min || (exclusive && d == min))
            throw new ArgumentException($"DeepSpeed config key '{path}' is {v.GetRawText()}; it must be {(exclusive ? "greater than" : "at least")} {min.ToString(CultureInfo.InvariantCulture)}");
        return d;
    }

    /// <exception cref="ArgumentException">Not an integer in [<paramref name="min"/>, <paramref name="max"/>]; names <paramref name="path"/>.</exception>
    private static int? Int(JsonElement e, string path, string key, int min, int max)
    {
        if (Num(e, path, key) is not double d) return null;
        if (d != Math.Floor(d) || d < min || d > max)
            throw new ArgumentException($"DeepSpeed config key '{path}' is {d.ToString(CultureInfo.InvariantCulture)}; it must be an integer from {min} to {max}");
        return (int)d;
    }

    private static (double Beta1, double Beta2)? Betas(JsonElement optimizerParams)
    {
        if (Get(optimizerParams, "betas") is not JsonElement b || b.ValueKind == JsonValueKind.String) return null;
        if (b.ValueKind != JsonValueKind.Array || b.GetArrayLength() != 2 || b[0].ValueKind != JsonValueKind.Number || b[1].ValueKind != JsonValueKind.Number)
            throw new ArgumentException($"DeepSpeed config key 'optimizer.params.betas' should be two numbers, not {b.GetRawText()}");
        double b1 = b[0].TryGetDouble(out double x) ? x : double.NaN, b2 = b[1].TryGetDouble(out double y) ? y : double.NaN;
        if (!(b1 >= 0 && b1 < 1 && b2 >= 0 && b2 < 1))
            throw new ArgumentException($"DeepSpeed config key 'optimizer.params.betas' is {b.GetRawText()}; each beta must be in [0, 1)");
        return (b1, b2);
    }

    /// <summary><c>section.enabled</c>: true/false, false when the section is absent, null when "auto".</summary>
    private static bool? Enabled(JsonElement root, string section)
    {
        if (Get(root, section) is not JsonElement s || Get(s, "enabled") is not JsonElement en) return false;
        return en.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            JsonValueKind.String when en.GetString() == "auto" => null,
            _ => throw new ArgumentException($"DeepSpeed config '{section}.enabled' should be true, false or \"auto\", not {en.GetRawText()}"),
        };
    }

    private static JsonElement? Get(JsonElement e, string key) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(key, out JsonElement v) && v.ValueKind != JsonValueKind.Null ? v : null;
}
