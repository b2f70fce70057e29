using System.Buffers;
using System.Buffers.Binary;
using System.Numerics;
using System.Text;
using Ckptmpi.Errors;
using Ckptmpi.Tensors;

namespace Ckptmpi.Formats.Torch.Pickle;

// The protocol-2 opcode shapes CPython's pickler emits for torch.save (docs/formats/torch.md).

/// <summary>
/// Writes a <see cref="PyValue"/> graph as the protocol-2 pickle torch.save would produce: CPython's memoization
/// (BINPUT/LONG_BINPUT in first-seen order, BINGET for repeats), batches of at most 1000 with single
/// APPEND/SETITEM for one-item batches, OrderedDicts via REDUCE + items + BUILD(state), tensors via
/// <c>_rebuild_tensor_v2</c> with storage persistent ids, <c>_rebuild_from_type_v2</c> when the tensor carries
/// Python attributes. Strings in the graph are memoized by identity (so a graph read from torch writes back byte for byte);
/// strings and globals the writer adds are memoized by value (loaders do not care about identity).
/// </summary>
internal sealed class PickleWriter
{
    private readonly ArrayBufferWriter<byte> _out = new(4096);
    private readonly Dictionary<object, int> _memoByRef = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<string, int> _memoStrings = new(StringComparer.Ordinal);
    private readonly Dictionary<PyGlobal, int> _memoGlobals = new();
    private readonly Dictionary<string, TorchStorage> _storageByKey = new(StringComparer.Ordinal);
    private readonly List<TorchStorage> _storages = new();
    private int _nextMemo;

    private PickleWriter() { }

    /// <summary>The pickle bytes of <paramref name="root"/> and its storages in first-use order (the record order).</summary>
    /// <exception cref="ArgumentException">The graph has a cycle, nests too deep, or two different storages share a key or a key is not a decimal number.</exception>
    public static (byte[] Pickle, IReadOnlyList<TorchStorage> Storages) Write(PyValue root)
    {
        try
        {
            PickleGraph.CheckDepthAndCycles(root, PickleLimits.Default.MaxDepth, "<object to pickle>");
        }
        catch (CheckpointFormatException e)
        {
            throw new ArgumentException(e.Reason, nameof(root), e);
        }
        var w = new PickleWriter();
        w.Op(PickleOpcodes.Proto);
        w.Byte(PickleOpcodes.TorchProtocol);
        w.Save(root);
        w.Op(PickleOpcodes.Stop);
        return (w._out.WrittenSpan.ToArray(), w._storages);
    }

    private void Save(PyValue v)
    {
        if (IsMemoizedByReference(v) && _memoByRef.TryGetValue(v, out int seen))
        {
            Get(seen);
            return;
        }
        switch (v)
        {
            case PyNone: Op(PickleOpcodes.None); break;
            case PyBool b: Op(b.Value ? PickleOpcodes.NewTrue : PickleOpcodes.NewFalse); break;
            case PyInt i: SaveInt(i.Value); break;
            case PyFloat f: Op(PickleOpcodes.BinFloat); BinaryPrimitives.WriteDoubleBigEndian(Span(8), f.Value); break;
            case PyString s: WriteString(s.Value); PutByReference(s); break;
            case PyBytes b: SaveBytes(b); break;
            case PyTuple t: SaveTuple(t); break;
            case PyList l:
                Op(PickleOpcodes.EmptyList);
                PutByReference(l);
                SaveBatches(l.Items, 1, PickleOpcodes.Append, PickleOpcodes.Appends);
                break;
            case PyDict d: SaveDict(d); break;
            case PyGlobal g: SaveGlobal(g); break;
            case PyObject o: SaveObject(o); break;
            case PyTensor t: SaveTensor(t); break;
            case PyStorage s: SavePersistentId(s.Storage); break;
            default: throw new ArgumentException($"cannot pickle a {v.GetType().Name}", nameof(v));
        }
    }

    // Strings are memoized by identity, as CPython does: a graph read from a pickle keeps each string's identity,
    // so it is written back byte for byte. Strings the writer itself adds are memoized by value (SaveString).
    private static bool IsMemoizedByReference(PyValue v) =>
        v is PyString or PyList or PyDict or PyObject or PyTensor or PyBytes or PyTuple { Items.Count: > 0 };

    private void SaveInt(BigInteger v)
    {
        if (v >= 0 && v <= byte.MaxValue) { Op(PickleOpcodes.BinInt1); Byte((byte)v); return; }
        if (v >= 0 && v <= ushort.MaxValue) { Op(PickleOpcodes.BinInt2); BinaryPrimitives.WriteUInt16LittleEndian(Span(2), (ushort)v); return; }
        if (v >= int.MinValue && v <= int.MaxValue) { Op(PickleOpcodes.BinInt); BinaryPrimitives.WriteInt32LittleEndian(Span(4), (int)v); return; }
        byte[] bytes = v.ToByteArray(isUnsigned: false, isBigEndian: false); // minimal two's complement, as CPython's encode_long
        if (bytes.Length <= byte.MaxValue) { Op(PickleOpcodes.Long1); Byte((byte)bytes.Length); }
        else { Op(PickleOpcodes.Long4); BinaryPrimitives.WriteInt32LittleEndian(Span(4), bytes.Length); }
        bytes.CopyTo(Span(bytes.Length));
    }

    private void SaveString(string s)
    {
        if (_memoStrings.TryGetValue(s, out int seen)) { Get(seen); return; }
        WriteString(s);
        _memoStrings[s] = Put();
    }

    private void WriteString(string s)
    {
        int n = Encoding.UTF8.GetByteCount(s);
        Op(PickleOpcodes.BinUnicode);
        BinaryPrimitives.WriteUInt32LittleEndian(Span(4), (uint)n);
        Encoding.UTF8.GetBytes(s, Span(n));
    }

    // Protocol 2 has no bytes opcode: CPython writes _codecs.encode(latin1 text, 'latin1'), or bytes() when empty.
    private void SaveBytes(PyBytes b)
    {
        if (b.Value.Length == 0)
        {
            SaveGlobal(TorchGlobals.Bytes);
            Op(PickleOpcodes.EmptyTuple);
        }
        else
        {
            SaveGlobal(TorchGlobals.CodecsEncode);
            // (text, 'latin1') TUPLE2: the text is a fresh string, 'latin1' a constant CPython memoizes once.
            WriteString(string.Create(b.Value.Length, b.Value, (span, bytes) => { for (int i = 0; i < bytes.Length; i++) span[i] = (char)bytes[i]; }));
            Put();
            SaveString("latin1");
            Op(PickleOpcodes.Tuple2);
            Put();
        }
        Op(PickleOpcodes.Reduce);
        PutByReference(b);
    }

    private void SaveTuple(PyTuple t)
    {
        int n = t.Items.Count;
        if (n == 0) { Op(PickleOpcodes.EmptyTuple); return; }
        if (n <= 3)
        {
            foreach (PyValue x in t.Items) Save(x);
            Op(n switch { 1 => PickleOpcodes.Tuple1, 2 => PickleOpcodes.Tuple2, _ => PickleOpcodes.Tuple3 });
        }
        else
        {
            Op(PickleOpcodes.Mark);
            foreach (PyValue x in t.Items) Save(x);
            Op(PickleOpcodes.Tuple);
        }
        PutByReference(t);
    }

    private void SaveDict(PyDict d)
    {
        if (d.IsOrdered)
        {
            // OrderedDict.__reduce__: (cls, (), state, None, iter(items)) -> GLOBAL, (), REDUCE, items, state, BUILD.
            SaveGlobal(TorchGlobals.OrderedDict);
            Op(PickleOpcodes.EmptyTuple);
            Op(PickleOpcodes.Reduce);
        }
        else
        {
            if (d.State is not null) throw new ArgumentException("a plain dict cannot carry BUILD state; make it an OrderedDict", nameof(d));
            Op(PickleOpcodes.EmptyDict);
        }
        PutByReference(d);
        var flat = new List<PyValue>(d.Items.Count * 2);
        foreach (var kv in d.Items) { flat.Add(kv.Key); flat.Add(kv.Value); }
        SaveBatches(flat, 2, PickleOpcodes.SetItem, PickleOpcodes.SetItems);
        if (d.State is not null)
        {
            Save(d.State);
            Op(PickleOpcodes.Build);
        }
    }

    /// <summary>CPython's _batch_appends / _batch_setitems: batches of 1000, a batch of one uses the single opcode.</summary>
    private void SaveBatches(List<PyValue> flat, int width, byte single, byte many)
    {
        int count = flat.Count / width;
        for (int start = 0; start < count; start += PickleOpcodes.BatchSize)
        {
            int n = Math.Min(PickleOpcodes.BatchSize, count - start);
            if (n > 1) Op(PickleOpcodes.Mark);
            for (int i = start * width; i < (start + n) * width; i++) Save(flat[i]);
            Op(n > 1 ? many : single);
        }
    }

    private void SaveGlobal(PyGlobal g)
    {
        if (g.Module == "builtins") g = g with { Module = TorchGlobals.Builtins }; // protocol 2 uses Python 2 names
        if (_memoGlobals.TryGetValue(g, out int seen)) { Get(seen); return; }
        if (g.Module.Contains('\n') || g.Name.Contains('\n')) throw new ArgumentException($"global '{g}' contains a newline", nameof(g));
        Op(PickleOpcodes.Global);
        Line(g.Module);
        Line(g.Name);
        _memoGlobals[g] = Put();
    }

    private void SaveObject(PyObject o)
    {
        Save(o.Callable);
        SaveTuple(o.Args);
        Op(o.Kind == PyObjectKind.NewObj ? PickleOpcodes.NewObj : PickleOpcodes.Reduce);
        PutByReference(o);
        if (o.State is not null)
        {
            Save(o.State);
            Op(PickleOpcodes.Build);
        }
    }

    private void SaveTensor(PyTensor t)
    {
        bool hasState = t.PythonState is { Items.Count: > 0 };
        if (t.IsParameter)
        {
            // nn.Parameter.__reduce_ex__: (_rebuild_parameter[_with_state], (data, requires_grad, OrderedDict()[, state])).
            SaveGlobal(hasState ? TorchGlobals.RebuildParameterWithState : TorchGlobals.RebuildParameter);
            var data = t with { IsParameter = false, RequiresGrad = false, PythonState = null };
            var args = hasState
                ? new PyTuple(data, PyBool.Of(t.RequiresGrad), new PyDict(isOrdered: true), t.PythonState!)
                : new PyTuple(data, PyBool.Of(t.RequiresGrad), new PyDict(isOrdered: true));
            SaveTuple(args);
        }
        else if (hasState)
        {
            // torch >= 2.0 Tensor.__reduce_ex__ for a tensor with Python attributes (ds_id).
            SaveGlobal(TorchGlobals.RebuildFromTypeV2);
            Op(PickleOpcodes.Mark);
            SaveGlobal(TorchGlobals.RebuildTensorV2);
            SaveGlobal(TorchGlobals.Tensor);
            SaveTuple(RebuildArgs(t));
            Save(t.PythonState!);
            Op(PickleOpcodes.Tuple);
            Put();
        }
        else
        {
            SaveGlobal(TorchGlobals.RebuildTensorV2);
            SaveTuple(RebuildArgs(t));
        }
        Op(PickleOpcodes.Reduce);
        PutByReference(t);
    }

    private static PyTuple RebuildArgs(PyTensor t)
    {
        CheckFitsStorage(t);
        return new(
            new PyStorage(t.Storage),
            new PyInt(t.StorageOffset),
            new PyTuple(t.Shape.Select(d => (PyValue)new PyInt(d)).ToArray()),
            new PyTuple(t.Stride.Select(d => (PyValue)new PyInt(d)).ToArray()),
            PyBool.Of(t.RequiresGrad),
            new PyDict(isOrdered: true));
    }

    /// <summary>torch.load would fail (or read garbage) on a tensor that reaches past its storage: refuse to write one.</summary>
    private static void CheckFitsStorage(PyTensor t)
    {
        if (t.Shape.Count != t.Stride.Count || t.StorageOffset < 0 || t.Shape.Any(d => d < 0) || t.Stride.Any(d => d < 0))
            throw new ArgumentException($"{t}: shape and stride must have the same rank and no negative values");
        long last = t.StorageOffset;
        bool empty = false;
        for (int i = 0; i < t.Shape.Count; i++)
        {
            if (t.Shape[i] == 0) empty = true;
            else last = checked(last + checked((t.Shape[i] - 1) * t.Stride[i]));
        }
        if (empty ? t.StorageOffset > t.Storage.ElementCount : last >= t.Storage.ElementCount)
            throw new ArgumentException($"{t} reaches element {last} of storage '{t.Storage.Key}', which has {t.Storage.ElementCount} elements");
    }

    /// <summary>A storage persistent id: MARK 'storage' GLOBAL key location numel TUPLE, BINPERSID.</summary>
    private void SavePersistentId(TorchStorage s)
    {
        Register(s);
        Op(PickleOpcodes.Mark);
        SaveString(TorchGlobals.StorageTag);
        SaveGlobal(TorchGlobals.StorageClass(s.DType));
        SaveString(s.Key);
        SaveString(s.Location);
        SaveInt(s.ElementCount);
        Op(PickleOpcodes.Tuple);
        Put();
        Op(PickleOpcodes.BinPersId);
    }

    private void Register(TorchStorage s)
    {
        if (_storageByKey.TryGetValue(s.Key, out TorchStorage? known))
        {
            if (known != s) throw new ArgumentException($"two different storages use key '{s.Key}': {known} and {s}");
            return;
        }
        bool decimalKey = s.Key.Length > 0 && s.Key.All(char.IsAsciiDigit) && (s.Key == "0" || s.Key[0] != '0');
        if (!decimalKey) throw new ArgumentException($"storage key '{s.Key}' must be a decimal number without leading zeros (torch.load reads storage keys as integers)");
        _storageByKey.Add(s.Key, s);
        _storages.Add(s);
    }

    // ---- memo and raw output ----

    private void PutByReference(object o) => _memoByRef[o] = Put();

    private int Put()
    {
        int index = _nextMemo++;
        if (index <= byte.MaxValue) { Op(PickleOpcodes.BinPut); Byte((byte)index); }
        else { Op(PickleOpcodes.LongBinPut); BinaryPrimitives.WriteUInt32LittleEndian(Span(4), (uint)index); }
        return index;
    }

    private void Get(int index)
    {
        if (index <= byte.MaxValue) { Op(PickleOpcodes.BinGet); Byte((byte)index); }
        else { Op(PickleOpcodes.LongBinGet); BinaryPrimitives.WriteUInt32LittleEndian(Span(4), (uint)index); }
    }

    private void Op(byte op) => Byte(op);

    private void Byte(byte b) => Span(1)[0] = b;

    private void Line(string s)
    {
        int n = Encoding.UTF8.GetByteCount(s);
        Encoding.UTF8.GetBytes(s, Span(n));
        Byte((byte)'\n');
    }

    private Span<byte> Span(int n)
    {
        Span<byte> span = _out.GetSpan(n)[..n];
        _out.Advance(n);
        return span;
    }
}
