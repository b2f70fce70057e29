using Ckptmpi.Tensors;

namespace Ckptmpi.Formats.Torch.Pickle;

// The globals torch.save and DeepSpeed pickles reference (docs/formats/torch.md).

/// <summary>
/// Names of the globals the pickle reader maps to typed values or recognises, and builders for the objects that
/// stay <see cref="PyObject"/>s but have a fixed form (torch.Size, torch.device, set, ZeroStageEnum).
/// </summary>
public static class TorchGlobals
{
    public const string Builtins = "__builtin__";
    public static readonly PyGlobal OrderedDict = new("collections", "OrderedDict");
    public static readonly PyGlobal RebuildTensorV2 = new("torch._utils", "_rebuild_tensor_v2");
    public static readonly PyGlobal RebuildTensor = new("torch._utils", "_rebuild_tensor");
    public static readonly PyGlobal RebuildParameter = new("torch._utils", "_rebuild_parameter");
    public static readonly PyGlobal RebuildParameterWithState = new("torch._utils", "_rebuild_parameter_with_state");
    public static readonly PyGlobal RebuildFromTypeV2 = new("torch._tensor", "_rebuild_from_type_v2");
    public static readonly PyGlobal Tensor = new("torch", "Tensor");
    public static readonly PyGlobal Parameter = new("torch.nn.parameter", "Parameter");
    public static readonly PyGlobal Size = new("torch", "Size");
    public static readonly PyGlobal Device = new("torch", "device");
    public static readonly PyGlobal Set = new(Builtins, "set");
    public static readonly PyGlobal FrozenSet = new(Builtins, "frozenset");
    public static readonly PyGlobal GetAttr = new(Builtins, "getattr");
    public static readonly PyGlobal Bytes = new(Builtins, "bytes");
    public static readonly PyGlobal CodecsEncode = new("_codecs", "encode");
    public static readonly PyGlobal Namespace = new("argparse", "Namespace");
    public static readonly PyGlobal ZeroStageEnum = new("deepspeed.runtime.zero.config", "ZeroStageEnum");
    public static readonly PyGlobal LossScaler = new("deepspeed.runtime.fp16.loss_scaler", "LossScaler");
    public static readonly PyGlobal DynamicLossScaler = new("deepspeed.runtime.fp16.loss_scaler", "DynamicLossScaler");
    public static readonly PyGlobal FragmentAddress = new("deepspeed.utils.tensor_fragment", "fragment_address");

    /// <summary>The persistent-id tag of a storage (<c>('storage', cls, key, location, numel)</c>).</summary>
    public const string StorageTag = "storage";

    /// <summary>DeepSpeed's <c>ZeroStageEnum</c> members by name (early CPython 3.11 pickles enums by name).</summary>
    public static readonly IReadOnlyDictionary<string, int> ZeroStageMembers = new Dictionary<string, int>(StringComparer.Ordinal)
    {
        ["disabled"] = 0, ["optimizer_states"] = 1, ["gradients"] = 2, ["weights"] = 3, ["max_stage"] = 3,
    };

    /// <summary>The storage-class global for a dtype (<c>torch.BFloat16Storage</c>).</summary>
    public static PyGlobal StorageClass(DType dtype) => new("torch", dtype.TorchStorageClass());

    /// <summary>The dtype global (<c>torch.float16</c>), as DeepSpeed's DynamicLossScaler pickles it.</summary>
    public static PyGlobal DTypeGlobal(DType dtype) => new("torch", dtype.TorchName());

    /// <summary>Maps a global such as <c>torch.bfloat16</c> back to its dtype.</summary>
    public static bool TryGetDType(PyGlobal g, out DType dtype)
    {
        dtype = default;
        if (g.Module != "torch") return false;
        foreach (DType d in Enum.GetValues<DType>())
        {
            if (d.TorchName() == g.Name) { dtype = d; return true; }
        }
        return false;
    }

    /// <summary><c>torch.Size([..])</c>: REDUCE(torch.Size, ((dims...),)).</summary>
    public static PyObject MakeSize(params long[] dims) =>
        new(Size, new PyTuple(new PyTuple(dims.Select(d => (PyValue)new PyInt(d)).ToArray())));

    /// <summary><c>torch.device(type[, index])</c>.</summary>
    public static PyObject MakeDevice(string type, int? index = null) =>
        new(Device, index is int i ? new PyTuple(new PyString(type), new PyInt(i)) : new PyTuple(new PyString(type)));

    /// <summary><c>set(items)</c>: REDUCE(__builtin__.set, ([items],)).</summary>
    public static PyObject MakeSet(IEnumerable<PyValue> items) => new(Set, new PyTuple(new PyList(items.ToList())));

    /// <summary><c>ZeroStageEnum(stage)</c> in the by-value form (a) the writer uses.</summary>
    public static PyObject MakeZeroStage(int stage) => new(ZeroStageEnum, new PyTuple(new PyInt(stage)));

    /// <summary>The stage of a <c>ZeroStageEnum</c> object (both pickle forms are normalised to by-value on read).</summary>
    public static bool TryGetZeroStage(PyValue v, out int stage)
    {
        stage = 0;
        if (v is PyObject { Kind: PyObjectKind.Reduce } o && o.Callable == ZeroStageEnum && o.Args.Items is [PyInt i])
        {
            stage = (int)i.AsLong;
            return true;
        }
        if (v is PyInt raw)
        {
            stage = (int)raw.AsLong;
            return true;
        }
        return false;
    }

    /// <summary>A plain class instance pickled as NEWOBJ + BUILD(__dict__) (LossScaler, fragment_address, Namespace).</summary>
    public static PyObject MakeInstance(PyGlobal cls, PyDict attributes) =>
        new(cls, PyTuple.Empty, PyObjectKind.NewObj) { State = attributes };
}
