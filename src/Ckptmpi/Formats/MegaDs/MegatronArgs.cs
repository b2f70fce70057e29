using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using Ckptmpi.Errors;
using Ckptmpi.Formats.DeepSpeed;
using Ckptmpi.Formats.Torch.Pickle;
using Ckptmpi.Tensors;

namespace Ckptmpi.Formats.MegaDs;

/// <summary>
/// Megatron's <c>args</c> Namespace for the target, in the order a real run has its fields: the built-in template
/// (<see cref="MegatronArgsTemplate"/>), then the --megatron-args values over it (fields the template lacks go last),
/// then the model, topology and run fields the checkpoint must agree with (<see cref="ApplyTarget"/>); the non-JSON fields
/// (params_dtype, model_type, deepspeed_config_dict, attn_mask, rotary_pos_emb) are built from those. The learning-rate
/// schedule, the optimizer's hyper-parameters and the batch sizes are read back from the result.
/// </summary>
internal sealed class MegatronArgs
{
    private static readonly PyGlobal ModelTypeClass = new("megatron.core.enums", "ModelType");
    private const string Computed = "computed";

    private readonly List<(string Name, PyValue? Value)> _fields;
    private readonly MegaDsTarget _target;

    private MegatronArgs(List<(string, PyValue?)> fields, MegaDsTarget target)
    {
        _fields = fields;
        _target = target;
    }

    /// <summary>The DeepSpeed config as stored (the same dict object in <c>args</c> and beside it, as Megatron-DeepSpeed pickles it).</summary>
    public PyDict DsConfig { get; private set; } = null!;

    /// <summary>Builds the fields from the template, the user's JSON object (may be null) and the target.</summary>
    /// <exception cref="FormatOptionException">--megatron-args is not a JSON object.</exception>
    public static MegatronArgs Build(MegaDsTarget target, string? userPath, string? userJson, PyDict? dsConfig, int zeroStage, int divisibleBy)
    {
        var fields = new List<(string Name, PyValue? Value)>();
        using (JsonDocument template = JsonDocument.Parse(MegatronArgsTemplate.Json))
        {
            foreach (JsonProperty p in template.RootElement.EnumerateObject())
                fields.Add((p.Name, p.Value.ValueKind == JsonValueKind.Object && p.Value.TryGetProperty(Computed, out _) ? null : DeepSpeed.DsConfig.ToPy(p.Value)));
        }
        var args = new MegatronArgs(fields, target);
        if (userJson is not null)
        {
            try
            {
                using JsonDocument user = JsonDocument.Parse(userJson);
                if (user.RootElement.ValueKind != JsonValueKind.Object) throw new FormatOptionException("--megatron-args", $"--megatron-args {userPath}: not a JSON object of argument names and values");
                foreach (JsonProperty p in user.RootElement.EnumerateObject())
                {
                    int i = args.Index(p.Name);
                    // Non-JSON fields are rebuilt from the target (a json.dumps(..., default=str) of them is only their text).
                    if (i >= 0 && fields[i].Value is null) continue;
                    args.Set(p.Name, DeepSpeed.DsConfig.ToPy(p.Value));
                }
            }
            catch (JsonException e)
            {
                throw new FormatOptionException("--megatron-args", $"--megatron-args {userPath}: not valid JSON: {e.Message}");
            }
        }
        args.DsConfig = dsConfig ?? args.DefaultDsConfig(zeroStage);
        args.ApplyTarget(zeroStage, divisibleBy);
        return args;
    }

    private int Index(string name) => _fields.FindIndex(f => f.Name == name);

    private void Set(string name, PyValue value)
    {
        int i = Index(name);
        if (i >= 0) _fields[i] = (name, value);
        else _fields.Add((name, value));
    }

    private PyValue? Get(string name) => Index(name) is int i and >= 0 ? _fields[i].Value : null;

    /// <summary>A numeric field as a double; <paramref name="fallback"/> when absent or None.</summary>
    public double Real(string name, double fallback = 0) => Get(name) switch
    {
        PyFloat f => f.Value,
        PyInt i => (double)i.Value,
        PyNone or null => fallback,
        var v => throw new FormatOptionException("--megatron-args", $"Megatron argument '{name}' should be a number, not {PickleGraph.Describe(v)}"),
    };

    public long? Int(string name) => Get(name) switch
    {
        PyInt i => i.AsLong,
        PyNone or null => null,
        var v => throw new FormatOptionException("--megatron-args", $"Megatron argument '{name}' should be an int, not {PickleGraph.Describe(v)}"),
    };

    public string? Str(string name) => Get(name) is PyString s ? s.Value : null;

    public bool Flag(string name) => Get(name) is PyBool { Value: true };

    /// <summary>A float field keeps the template's Python type when the value is the template's (an int default such as rope_theta 10000).</summary>
    private void SetNumber(string name, double value)
    {
        if (Get(name) is PyInt i && (double)i.Value == value) return;
        Set(name, new PyFloat(value));
    }

    public long MicroBatch => Int("micro_batch_size") ?? 1;

    public long GlobalBatch => Int("global_batch_size") ?? MicroBatch * _target.Model.Dp;

    public long SeqLength => Int("seq_length") ?? throw new FormatOptionException("--megatron-args", "Megatron argument 'seq_length' is missing");

    private void ApplyTarget(int zeroStage, int divisibleBy)
    {
        MegaDsModel m = _target.Model;
        long iteration = m.Iteration;
        PyInt I(long v) => new(v);
        Set("num_layers", I(m.Layers));
        Set("encoder_num_layers", I(m.Layers));
        Set("hidden_size", I(m.Hidden));
        Set("ffn_hidden_size", I(m.Ffn));
        Set("num_attention_heads", I(m.Heads));
        Set("num_key_value_heads", I(m.KvHeads));
        Set("kv_channels", I(m.HeadDim));
        Set("max_position_embeddings", I(m.MaxPositions));
        SetNumber("rope_theta", m.RopeTheta);
        SetNumber("layernorm_epsilon", m.NormEps);
        Set("make_vocab_size_divisible_by", I(divisibleBy));
        Set("padded_vocab_size", I(m.PaddedVocab));
        Set("untie_embeddings_and_output_weights", PyBool.Of(!m.Tied));
        Set("swiglu", PyBool.True);
        Set("normalization", new PyString("rmsnorm"));
        Set("add_bias_linear", PyBool.False);
        Set("use_rotary_position_embeddings", PyBool.True);
        Set("add_position_embedding", PyBool.False);
        Set("tensor_model_parallel_size", I(m.Tp));
        Set("pipeline_model_parallel_size", I(m.Pp));
        Set("transformer_pipeline_model_parallel_size", I(m.Pp));
        Set("data_parallel_size", I(m.Dp));
        Set("world_size", I((long)m.Tp * m.Pp * m.Dp));
        Set("zero_stage", I(zeroStage));
        Set("bf16", PyBool.True);
        Set("fp16", PyBool.False);
        Set("deepspeed", PyBool.True);
        Set("ds_pipeline_enabled", PyBool.True);
        // The global batch is the DeepSpeed config's train_batch_size when it names one, else one micro-batch per data rank.
        long gbs = DsConfig.Get("train_batch_size") is PyInt tbs ? tbs.AsLong : MicroBatch * m.Dp;
        Set("global_batch_size", I(gbs));
        Set("encoder_seq_length", I(SeqLength));
        Set("iteration", I(iteration));
        Set("consumed_train_samples", I(iteration * gbs));
        Set("consumed_train_tokens", I(iteration * gbs * SeqLength));
        if (iteration > 0)
        {
            // A run that trained sets these in its train loop (the last iteration index, the sequence length it ran), after the others.
            Set("curr_iteration", I(iteration - 1));
            Set("actual_seq_length", I(SeqLength));
        }
    }

    /// <summary>
    /// The DeepSpeed config an ALCF Megatron-DeepSpeed job passes when none is given: the batch sizes, gradient clipping,
    /// the ZeRO stage, bf16, and fp32 gradient accumulation (which makes DeepSpeed pick BF16_Optimizer).
    /// </summary>
    private PyDict DefaultDsConfig(int zeroStage)
    {
        var d = new PyDict();
        d.Add("train_batch_size", new PyInt(Int("global_batch_size") is long g && g % (MicroBatch * _target.Model.Dp) == 0 ? g : MicroBatch * _target.Model.Dp));
        d.Add("train_micro_batch_size_per_gpu", new PyInt(MicroBatch));
        d.Add("steps_per_print", new PyInt(1000000));
        d.Add("gradient_clipping", new PyFloat(Real("clip_grad", 1.0)));
        var zero = new PyDict();
        zero.Add("stage", new PyInt(zeroStage));
        d.Add("zero_optimization", zero);
        var bf16 = new PyDict();
        bf16.Add("enabled", PyBool.True);
        d.Add("bf16", bf16);
        d.Add("wall_clock_breakdown", PyBool.False);
        var types = new PyDict();
        types.Add("grad_accum_dtype", new PyString("fp32"));
        d.Add("data_types", types);
        return d;
    }

    /// <summary>The Namespace as global rank <paramref name="rank"/> saves it (rank and local_rank are the saver's; one node assumed for local_rank).</summary>
    public PyObject Namespace(int rank, Func<DType, long, byte[], TorchStorageRef> storage)
    {
        var d = new PyDict();
        foreach (var (name, value) in _fields)
        {
            PyValue v = name switch
            {
                "rank" or "local_rank" => new PyInt(rank),
                _ => value ?? ComputedField(name, storage),
            };
            d.Add(name, v);
        }
        return new PyObject(TorchGlobals.Namespace, PyTuple.Empty, PyObjectKind.NewObj) { State = d };
    }

    private PyValue ComputedField(string name, Func<DType, long, byte[], TorchStorageRef> storage)
    {
        switch (name)
        {
            case "params_dtype": return new PyGlobal("torch", "bfloat16");
            case "deepspeed_config_dict": return DsConfig;
            case "model_type": return new PyObject(TorchGlobals.GetAttr, new PyTuple(ModelTypeClass, new PyString("encoder_or_decoder")));
            case "attn_mask":
            {
                // pretrain_gpt's causal mask: torch.tril(ones(s, s)) < 0.5, i.e. True above the diagonal, as [1, 1, s, s].
                long s = SeqLength;
                var bytes = new byte[checked(s * s)];
                for (long i = 0; i < s; i++)
                for (long j = i + 1; j < s; j++) bytes[i * s + j] = 1;
                return storage(DType.Bool, s * s, bytes).Tensor([1, 1, s, s]);
            }
            case "rotary_pos_emb":
            {
                // GPTModelPipe's RotaryEmbedding(rotary_dim, theta)(seq_length): inv_freq = 1 / theta^(arange(0, d, 2) / d) in
                // fp32, freqs = outer(arange(s), inv_freq), emb = cat(freqs, freqs) as [s, 1, 1, d].
                MegaDsModel m = _target.Model;
                int dim = m.HeadDim;
                double percent = Real("rotary_percent", 1.0);
                if (percent < 1.0) dim = (int)(dim * percent);
                long s = SeqLength;
                float theta = (float)Real("rope_theta", 10000);
                var inv = new float[dim / 2];
                for (int k = 0; k < inv.Length; k++) inv[k] = 1.0f / MathF.Pow(theta, 2 * k / (float)dim);
                var values = new float[checked(s * dim)];
                for (long i = 0; i < s; i++)
                for (int k = 0; k < inv.Length; k++)
                    values[i * dim + k] = values[i * dim + inv.Length + k] = i * inv[k];
                return storage(DType.F32, s * dim, MemoryMarshal.AsBytes(values.AsSpan()).ToArray()).Tensor([s, 1, 1, dim]);
            }
            default: throw new InvalidOperationException($"no builder for the computed Megatron argument '{name}'");
        }
    }

    // ---- OptimizerParamScheduler at the target iteration ----

    public long LrWarmupSteps => Int("lr_warmup_samples") is long ws && ws > 0 ? ws : (Int("lr_warmup_iters") ?? 0) * GlobalBatch;

    public long LrDecaySteps => (Int("lr_decay_iters") ?? Int("train_iters") ?? 0) * GlobalBatch;

    public long WdIncrSteps => (Int("train_iters") ?? 0) * GlobalBatch;

    /// <summary>The scheduler's state_dict (13 keys, as Megatron's OptimizerParamScheduler saves it).</summary>
    public PyDict LrScheduler()
    {
        long iteration = _target.Model.Iteration;
        var d = new PyDict();
        d.Add("max_lr", new PyFloat(Real("lr")));
        d.Add("lr_warmup_steps", new PyInt(LrWarmupSteps));
        d.Add("lr_warmup_tokens", Get("lr_warmup_tokens") ?? PyNone.Instance);
        d.Add("num_steps", new PyInt(iteration * GlobalBatch));
        // Megatron's train step advances the scheduler by samples only (step(increment=...)): its token count stays 0.
        d.Add("num_tokens", new PyInt(0));
        d.Add("lr_decay_style", new PyString(Str("lr_decay_style") ?? "linear"));
        d.Add("lr_decay_steps", new PyInt(LrDecaySteps));
        d.Add("lr_decay_tokens", Get("lr_decay_tokens") ?? PyNone.Instance);
        d.Add("min_lr", new PyFloat(Real("min_lr")));
        d.Add("start_wd", new PyFloat(Real("start_weight_decay", Real("weight_decay"))));
        d.Add("end_wd", new PyFloat(Real("end_weight_decay", Real("weight_decay"))));
        d.Add("wd_incr_style", new PyString(Str("weight_decay_incr_style") ?? "constant"));
        d.Add("wd_incr_steps", new PyInt(WdIncrSteps));
        return d;
    }

    /// <summary>The learning rate the scheduler sets at the target iteration (Megatron's get_lr for the styles it knows).</summary>
    /// <exception cref="UnsupportedCheckpointException">a decay style this writer does not compute, past warmup.</exception>
    public double CurrentLr()
    {
        double max = Real("lr"), min = Real("min_lr");
        long steps = _target.Model.Iteration * GlobalBatch, warmup = LrWarmupSteps, decay = LrDecaySteps;
        if (warmup > 0 && steps <= warmup) return max * steps / warmup;
        string style = Str("lr_decay_style") ?? "linear";
        if (style == "constant") return max;
        if (steps > decay) return min;
        double ratio = (double)(steps - warmup) / (decay - warmup);
        double coeff = style switch
        {
            "linear" => 1.0 - ratio,
            "cosine" => 0.5 * (Math.Cos(Math.PI * ratio) + 1.0),
            _ => throw new UnsupportedCheckpointException("--megatron-args", $"lr_decay_style '{style}': the learning rate at iteration {_target.Model.Iteration} is not computed for it; use --iteration 0 or constant, linear or cosine"),
        };
        return min + coeff * (max - min);
    }

    /// <summary>The weight decay the scheduler sets at the target iteration.</summary>
    public double CurrentWd()
    {
        double start = Real("start_weight_decay", Real("weight_decay")), end = Real("end_weight_decay", Real("weight_decay"));
        string style = Str("weight_decay_incr_style") ?? "constant";
        if (style == "constant") return end;
        long steps = _target.Model.Iteration * GlobalBatch, incr = WdIncrSteps;
        if (steps > incr) return end;
        double ratio = (double)steps / incr, delta = end - start;
        double coeff = style switch
        {
            "linear" => ratio,
            "cosine" => 0.5 * (Math.Cos(Math.PI * (1 - ratio)) + 1.0),
            _ => throw new UnsupportedCheckpointException("--megatron-args", $"weight_decay_incr_style '{style}' is not computed"),
        };
        return start + coeff * delta;
    }

    /// <summary>Python's repr of a float (what yaml.dump starts from).</summary>
    public static string PyRepr(double v)
    {
        string s = v.ToString("R", CultureInfo.InvariantCulture).Replace("E", "e", StringComparison.Ordinal);
        if (!s.Contains('.', StringComparison.Ordinal) && !s.Contains('e', StringComparison.Ordinal) && double.IsFinite(v)) s += ".0";
        return s;
    }
}

/// <summary>A storage created for a literal tensor of the model-state file, which builds tensor views of it.</summary>
internal sealed record TorchStorageRef(TorchStorage Storage)
{
    public PyTensor Tensor(long[] shape) => new(Storage, 0, shape, PyTensor.ContiguousStrides(shape));
}
