using Ckptmpi.Errors;
using Ckptmpi.Tensors;

namespace Ckptmpi.Formats.Torch.Pickle;

// Persistent ids (storages), tensors and other objects: the allowlist of globals that
// become typed values. Nothing here imports or calls anything; unknown globals become opaque PyObjects.
internal sealed partial class PickleReader
{
    private PyValue Reduce(PyValue callable, PyValue args)
    {
        if (args is not PyTuple t) throw Fail($"REDUCE arguments are a {PickleGraph.Describe(args)}, not a tuple");
        if (callable is not PyGlobal g)
            throw new UnsupportedCheckpointException(_path, $"REDUCE at byte {_baseOffset + _opPos} calls a {PickleGraph.Describe(callable)}; only named globals are supported");

        if (g == TorchGlobals.OrderedDict) return MakeOrderedDict(t);
        if (g == TorchGlobals.RebuildTensorV2 || g == TorchGlobals.RebuildTensor) return RebuildTensor(t);
        if (g == TorchGlobals.RebuildParameter || g == TorchGlobals.RebuildParameterWithState) return RebuildParameter(t, withState: g == TorchGlobals.RebuildParameterWithState);
        if (g == TorchGlobals.RebuildFromTypeV2) return RebuildFromType(t);
        if (g == TorchGlobals.GetAttr && t.Items is [PyGlobal owner, PyString member] && owner == TorchGlobals.ZeroStageEnum)
        {
            // Early CPython 3.11 pickles enums by name (form b); normalise to the by-value form (a).
            return TorchGlobals.ZeroStageMembers.TryGetValue(member.Value, out int stage)
                ? TorchGlobals.MakeZeroStage(stage)
                : throw Fail($"ZeroStageEnum has no member '{member.Value}'");
        }
        if (g == TorchGlobals.CodecsEncode && t.Items is [PyString text, PyString { Value: "latin1" or "latin-1" }])
            return EncodeLatin1(text.Value);
        if (g == TorchGlobals.Bytes && t.Items.Count == 0) return new PyBytes([]);
        return new PyObject(g, t);
    }

    private PyValue NewObj(PyValue cls, PyValue args)
    {
        if (args is not PyTuple t) throw Fail($"NEWOBJ arguments are a {PickleGraph.Describe(args)}, not a tuple");
        if (cls is not PyGlobal g)
            throw new UnsupportedCheckpointException(_path, $"NEWOBJ at byte {_baseOffset + _opPos} instantiates a {PickleGraph.Describe(cls)}; only named classes are supported");
        if (g == TorchGlobals.OrderedDict && t.Items.Count == 0) return new PyDict(isOrdered: true);
        return new PyObject(g, t, PyObjectKind.NewObj);
    }

    private void Build(PyValue target, PyValue state)
    {
        switch (target)
        {
            case PyDict { IsOrdered: true } d: d.State = state; break; // a plain dict has no __dict__: BUILD would fail in Python
            case PyObject o: o.State = state; break;
            default: throw Fail($"BUILD on a {PickleGraph.Describe(target)}; only objects and OrderedDicts carry state");
        }
    }

    private PyDict MakeOrderedDict(PyTuple args)
    {
        var d = new PyDict(isOrdered: true);
        if (args.Items.Count == 0) return d;
        // OrderedDict([(k, v), ...]): older picklers pass the items as the argument.
        if (args.Items is [PyList pairs])
        {
            var kv = new List<PyValue>(pairs.Items.Count * 2);
            foreach (PyValue p in pairs.Items)
            {
                if (p is not PyTuple { Items.Count: 2 } pair) throw Fail("OrderedDict argument is not a list of pairs");
                kv.Add(pair.Items[0]);
                kv.Add(pair.Items[1]);
            }
            SetItems(d, kv);
            return d;
        }
        throw Fail($"OrderedDict called with {args.Items.Count} arguments");
    }

    /// <summary><c>_rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata])</c> and the older 4-argument <c>_rebuild_tensor</c>.</summary>
    private PyTensor RebuildTensor(PyTuple args)
    {
        IReadOnlyList<PyValue> a = args.Items;
        if (a.Count is < 4 or > 7 || a[0] is not PyStorage s || a[1] is not PyInt offsetValue || a[2] is not PyTuple size || a[3] is not PyTuple stride)
            throw Fail("tensor rebuild arguments are not (storage, offset, size, stride, ...)");
        bool requiresGrad = a.Count > 4 && a[4] is PyBool { Value: true };
        long offset = ToNonNegativeLong(offsetValue, "storage offset");
        long[] shape = size.Items.Select(v => ToNonNegativeLong(v, "size")).ToArray();
        long[] strides = stride.Items.Select(v => ToNonNegativeLong(v, "stride")).ToArray();
        if (shape.Length != strides.Length) throw Fail($"tensor has {shape.Length} sizes but {strides.Length} strides");
        TorchStorage storage = s.Storage;
        try
        {
            long numel = DTypes.ElementCount(shape);
            // Highest element index the tensor touches must lie inside its storage (views may not escape it).
            long last = offset;
            for (int i = 0; i < shape.Length; i++) if (shape[i] > 0) last = checked(last + checked((shape[i] - 1) * strides[i]));
            bool inside = numel == 0 ? offset <= storage.ElementCount : last < storage.ElementCount;
            if (!inside)
                throw Fail($"tensor of shape [{string.Join(", ", shape)}] at storage offset {offset} reaches element {last} of storage '{storage.Key}', which has {storage.ElementCount} elements");
        }
        catch (OverflowException)
        {
            throw Fail($"tensor of shape [{string.Join(", ", shape)}] with strides [{string.Join(", ", strides)}] overflows a 64-bit element index");
        }
        return new PyTensor(storage, offset, shape, strides, requiresGrad);
    }

    /// <summary><c>_rebuild_parameter(data, requires_grad, hooks)</c> and <c>_rebuild_parameter_with_state(..., state)</c>.</summary>
    private PyTensor RebuildParameter(PyTuple args, bool withState)
    {
        if (args.Items.Count != (withState ? 4 : 3) || args.Items[0] is not PyTensor data || args.Items[1] is not PyBool requiresGrad)
            throw Fail("parameter rebuild arguments are not (tensor, requires_grad, hooks[, state])");
        PyDict? state = withState && args.Items[3] is PyDict { Items.Count: > 0 } d ? d : data.PythonState;
        return data with { RequiresGrad = requiresGrad.Value, IsParameter = true, PythonState = state };
    }

    /// <summary>
    /// torch &gt;= 2.0 <c>_rebuild_from_type_v2(func, type, args, state)</c>: a tensor carrying Python attributes
    /// (DeepSpeed's <c>ds_id</c>). Applies the inner rebuild and keeps the attributes as <see cref="PyTensor.PythonState"/>.
    /// </summary>
    private PyValue RebuildFromType(PyTuple args)
    {
        if (args.Items is not [PyGlobal func, PyGlobal type, PyTuple inner, PyValue state])
            throw Fail("_rebuild_from_type_v2 arguments are not (func, type, args, state)");
        // Only the tensor rebuilds are applied (never this function again), so nesting cannot recurse.
        PyTensor? built = func == TorchGlobals.RebuildTensorV2 || func == TorchGlobals.RebuildTensor ? RebuildTensor(inner)
            : func == TorchGlobals.RebuildParameter ? RebuildParameter(inner, withState: false)
            : null;
        if (built is not PyTensor tensor) return new PyObject(TorchGlobals.RebuildFromTypeV2, args);
        return tensor with
        {
            PythonState = state is PyDict { Items.Count: > 0 } d ? d : tensor.PythonState,
            IsParameter = tensor.IsParameter || type == TorchGlobals.Parameter,
        };
    }

    /// <summary>A storage persistent id <c>('storage', torch.XStorage, key, location, numel)</c>; storages are shared by key.</summary>
    private PyValue PersistentLoad(PyValue pid)
    {
        if (pid is not PyTuple { Items: [PyString { Value: TorchGlobals.StorageTag }, var clsValue, var keyValue, var locValue, var numelValue, ..] } t)
            throw Fail($"persistent id is a {PickleGraph.Describe(pid)}, not a ('storage', class, key, location, numel) tuple");
        if (t.Items.Count != 5)
            throw new UnsupportedCheckpointException(_path, $"storage persistent id with {t.Items.Count} fields at byte {_baseOffset + _opPos} (legacy view metadata) is not supported");
        if (clsValue is not PyGlobal cls || keyValue is not PyString key || locValue is not PyString location || numelValue is not PyInt numelInt)
            throw Fail("storage persistent id fields are not (class, key str, location str, numel int)");
        if (cls.Module != "torch" || !DTypes.TryParseTorchStorageClass(cls.Name, out DType dtype))
            throw new UnsupportedCheckpointException(_path, $"storage class {cls} at byte {_baseOffset + _opPos} is not supported (dtypes: {string.Join(", ", Enum.GetValues<DType>().Select(d => d.TorchStorageClass()))})");
        if (key.Value.Length == 0 || key.Value.Length > 20 || !key.Value.All(char.IsAsciiDigit))
            throw Fail($"storage key '{key.Value}' is not a decimal number; torch.save numbers its storages");
        long numel = ToNonNegativeLong(numelInt, "storage size");
        if (numel > long.MaxValue / dtype.SizeInBytes()) throw Fail($"storage '{key.Value}' of {numel} elements overflows a 64-bit byte count");
        if (_storages.TryGetValue(key.Value, out TorchStorage? known))
        {
            if (known.DType != dtype || known.ElementCount != numel)
                throw Fail($"storage '{key.Value}' is declared as {known.ElementCount} x {known.DType} and again as {numel} x {dtype}");
            return new PyStorage(known);
        }
        var storage = new TorchStorage(key.Value, dtype, numel, location.Value);
        _storages.Add(key.Value, storage);
        return new PyStorage(storage);
    }

    private long ToNonNegativeLong(PyValue v, string what)
    {
        if (v is PyInt i && i.Value >= 0 && i.Value <= long.MaxValue) return (long)i.Value;
        throw Fail($"tensor {what} ({PickleGraph.Describe(v)}) is not a non-negative 64-bit integer");
    }

    private static PyBytes EncodeLatin1(string text)
    {
        var bytes = new byte[text.Length];
        for (int i = 0; i < text.Length; i++) bytes[i] = (byte)text[i]; // latin-1 maps U+0000..U+00FF to one byte
        return new PyBytes(bytes);
    }
}
