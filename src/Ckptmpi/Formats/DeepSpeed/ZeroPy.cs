using Ckptmpi.Formats.Torch.Pickle;
using Ckptmpi.Tensors;

namespace Ckptmpi.Formats.DeepSpeed;

// The Python objects DeepSpeed pickles, with their exact class paths (DeepSpeed's loader unpickles them by name).

/// <summary>Builders for the Python values of DeepSpeed checkpoint files.</summary>
internal static class ZeroPy
{
    public static readonly PyGlobal OrderedDictClass = new("collections", "OrderedDict");
    public static readonly PyGlobal SizeClass = new("torch", "Size");
    public static readonly PyGlobal SetClass = new("__builtin__", "set");
    public static readonly PyGlobal ZeroStageEnumClass = new("deepspeed.runtime.zero.config", "ZeroStageEnum");
    public static readonly PyGlobal LossScalerClass = new("deepspeed.runtime.fp16.loss_scaler", "LossScaler");
    public static readonly PyGlobal DynamicLossScalerClass = new("deepspeed.runtime.fp16.loss_scaler", "DynamicLossScaler");
    public static readonly PyGlobal FragmentAddressClass = new("deepspeed.utils.tensor_fragment", "fragment_address");

    public static PyString S(string s) => new(s);
    public static PyInt I(long v) => new(v);
    public static PyFloat F(double v) => new(v);
    public static PyBool B(bool v) => v ? PyBool.True : PyBool.False;

    /// <summary>An int when the value is integral (as Python keeps <c>2**16</c> or a JSON <c>1</c>), else a float.</summary>
    public static PyValue Number(double v) => v == Math.Floor(v) && Math.Abs(v) < 1e15 ? new PyInt((long)v) : new PyFloat(v);

    public static PyObject Size(IReadOnlyList<long> dims) =>
        new(SizeClass, new PyTuple(new PyTuple(dims.Select(d => (PyValue)new PyInt(d)).ToArray())));

    public static PyObject EmptySet() => new(SetClass, new PyTuple(new PyList()));

    /// <summary><c>ZeroStageEnum(stage)</c>, by value (not the by-name form of early CPython 3.11).</summary>
    public static PyObject ZeroStage(int stage) => new(ZeroStageEnumClass, new PyTuple(new PyInt(stage)));

    /// <summary>A plain-class instance: NEWOBJ with no args, then BUILD with its <c>__dict__</c>.</summary>
    public static PyObject Instance(PyGlobal cls, PyDict dict) => new(cls, PyTuple.Empty, PyObjectKind.NewObj) { State = dict };

    public static PyObject FragmentAddress(long numel, long start)
    {
        var d = new PyDict();
        d.Add("numel", I(numel));
        d.Add("start", I(start));
        return Instance(FragmentAddressClass, d);
    }

    /// <summary>A contiguous tensor view of <paramref name="storage"/> (row-major strides).</summary>
    public static PyTensor Tensor(TorchStorage storage, long offset, IReadOnlyList<long> shape, bool requiresGrad) =>
        new(storage, offset, shape.ToArray(), PyTensor.ContiguousStrides(shape), requiresGrad);

    /// <summary>The loss scaler DeepSpeed saves at step 0 for a training dtype.</summary>
    public static PyObject LossScaler(ZeroWriteOptions o)
    {
        var d = new PyDict();
        if (o.DType != DType.F16 || o.StaticLossScale > 0)
        {
            d.Add("cur_scale", o.DType == DType.F16 ? Number(o.StaticLossScale) : F(1.0));
            d.Add("dynamic", PyBool.False);
            return Instance(LossScalerClass, d);
        }
        d.Add("cur_scale", Number(Math.Pow(2, o.InitialScalePower)));
        d.Add("dynamic", PyBool.True);
        d.Add("cur_iter", I(0));
        d.Add("last_overflow_iter", I(-1));
        d.Add("scale_factor", F(2.0));
        d.Add("scale_window", I(o.LossScaleWindow));
        d.Add("min_scale", Number(o.MinLossScale));
        d.Add("delayed_shift", I(o.Hysteresis));
        d.Add("cur_hysteresis", I(o.Hysteresis));
        d.Add("consecutive_hysteresis", B(o.ConsecutiveHysteresis));
        d.Add("raise_error_at_min_scale", PyBool.True);
        d.Add("dtype", new PyGlobal("torch", "float16"));
        return Instance(DynamicLossScalerClass, d);
    }

    public static bool DynamicLossScale(ZeroWriteOptions o) => o.DType == DType.F16 && o.StaticLossScale <= 0;

    /// <summary>
    /// The wrapped optimizer's <c>state_dict()</c>: empty <c>state</c> at step 0, or <paramref name="state"/> (a trained
    /// run's, keyed by group index): empty <c>state</c> and one param group whose keys follow
    /// the optimizer class, <c>params</c> last.
    /// </summary>
    public static PyDict BaseOptimizerState(ZeroOptimizerSettings s, IEnumerable<long> paramIds, PyDict? state = null)
    {
        var g = new PyDict();
        g.Add("lr", F(s.Lr));
        if (!s.TorchAdam) g.Add("bias_correction", B(s.BiasCorrection));
        // json.load gives a list for betas, and DeepSpeed passes it through.
        g.Add("betas", new PyList([F(s.Beta1), F(s.Beta2)]));
        g.Add("eps", F(s.Eps));
        g.Add("weight_decay", F(s.WeightDecay));
        if (s.TorchAdam)
        {
            // torch 1.13 Adam/AdamW defaults after the hyper-parameters (what the fixtures hold); torch 2.x fills the
            // keys it added (differentiable, fused) with defaults on load_state_dict.
            g.Add("amsgrad", PyBool.False);
            g.Add("foreach", PyNone.Instance);
            g.Add("maximize", PyBool.False);
            g.Add("capturable", PyBool.False);
        }
        g.Add("params", new PyList(paramIds.Select(i => (PyValue)I(i)).ToList()));
        var d = new PyDict();
        d.Add("state", state ?? new PyDict());
        d.Add("param_groups", new PyList([g]));
        return d;
    }

    /// <summary>
    /// <c>nn.Module.state_dict()</c>'s <c>_metadata</c>: each module prefix, in module pre-order, mapped to
    /// <c>{'version': 1}</c>. Derived from the param names (modules without params or buffers are not known here;
    /// load_state_dict only uses the versions for migrations).
    /// </summary>
    public static PyDict ModuleMetadata(IEnumerable<string> stateDictNames)
    {
        var meta = new PyDict(isOrdered: true);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (string name in stateDictNames)
        {
            string[] parts = name.Split('.');
            string prefix = "";
            AddModule(meta, seen, prefix);
            for (int i = 0; i < parts.Length - 1; i++)
            {
                prefix = i == 0 ? parts[0] : prefix + "." + parts[i];
                AddModule(meta, seen, prefix);
            }
        }
        var state = new PyDict();
        state.Add("_metadata", meta);
        return state;
    }

    private static void AddModule(PyDict meta, HashSet<string> seen, string prefix)
    {
        if (!seen.Add(prefix)) return;
        var v = new PyDict();
        v.Add("version", I(1));
        meta.Add(prefix, v);
    }
}
