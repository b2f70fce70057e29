using System.Numerics;
using Ckptmpi.Tensors;

namespace Ckptmpi.Formats.Torch.Pickle;

// The object graph of a torch.save pickle (docs/formats/torch.md), as data. Nothing is ever executed:
// allowlisted globals become typed values (tensors, OrderedDicts, dtypes), every other global becomes a
// PyObject that records its class and arguments so it survives a read-modify-write unchanged.

/// <summary>A Python value read from, or to be written to, a pickle.</summary>
public abstract record PyValue;

public sealed record PyNone : PyValue
{
    public static readonly PyNone Instance = new();
}

public sealed record PyBool(bool Value) : PyValue
{
    public static readonly PyBool True = new(true);
    public static readonly PyBool False = new(false);

    public static PyBool Of(bool value) => value ? True : False;
}

/// <summary>A Python int (arbitrary precision; almost always fits a long).</summary>
public sealed record PyInt(BigInteger Value) : PyValue
{
    public PyInt(long value) : this(new BigInteger(value)) { }

    public long AsLong => (long)Value;

    // Not the record default: that would evaluate AsLong, which throws for values beyond a long.
    public override string ToString() => Value.ToString();
}

public sealed record PyFloat(double Value) : PyValue;

public sealed record PyString(string Value) : PyValue;

public sealed record PyBytes(byte[] Value) : PyValue;

public sealed record PyTuple(IReadOnlyList<PyValue> Items) : PyValue
{
    public static readonly PyTuple Empty = new(Array.Empty<PyValue>());

    public PyTuple(params PyValue[] items) : this((IReadOnlyList<PyValue>)items) { }
}

public sealed record PyList(List<PyValue> Items) : PyValue
{
    public PyList() : this(new List<PyValue>()) { }
}

/// <summary>
/// A dict or a <c>collections.OrderedDict</c>, in insertion order. <see cref="State"/> holds the BUILD state
/// an OrderedDict may carry (<c>nn.Module.state_dict()</c>'s <c>_metadata</c> attribute), null if none.
/// </summary>
public sealed record PyDict(List<KeyValuePair<PyValue, PyValue>> Items, bool IsOrdered = false) : PyValue
{
    public PyDict(bool isOrdered = false) : this(new List<KeyValuePair<PyValue, PyValue>>(), isOrdered) { }

    // Settable, not init-only: BUILD arrives after the object was memoized, and the memo must see the same instance.
    public PyValue? State { get; set; }

    public void Add(string key, PyValue value) => Items.Add(new(new PyString(key), value));

    /// <summary>Looks up a string key; null when absent.</summary>
    public PyValue? Get(string key)
    {
        foreach (var kv in Items)
        {
            if (kv.Key is PyString s && s.Value == key) return kv.Value;
        }
        return null;
    }
}

/// <summary>A reference to a global (class, function or constant such as <c>torch.float16</c>).</summary>
public sealed record PyGlobal(string Module, string Name) : PyValue
{
    public override string ToString() => $"{Module}.{Name}";
}

/// <summary>How an opaque object was built: <c>REDUCE</c> (callable(*args)) or <c>NEWOBJ</c> (cls.__new__(cls, *args)).</summary>
public enum PyObjectKind
{
    Reduce,
    NewObj,
}

/// <summary>
/// An object built from a global that is not mapped to a typed value (DeepSpeed's <c>LossScaler</c>,
/// <c>ZeroStageEnum</c>, <c>argparse.Namespace</c>, <c>torch.Size</c>, <c>torch.device</c>, <c>set</c>, ...).
/// <see cref="State"/> is the BUILD argument (usually the instance <c>__dict__</c>), null if none.
/// </summary>
public sealed record PyObject(PyGlobal Callable, PyTuple Args, PyObjectKind Kind = PyObjectKind.Reduce) : PyValue
{
    // Settable for the same reason as PyDict.State: BUILD follows memoization.
    public PyValue? State { get; set; }
}

/// <summary>
/// A storage that appears in the graph on its own rather than inside a tensor (a persistent id not consumed by
/// <c>_rebuild_tensor_v2</c>, e.g. <c>torch.save(t.storage())</c>).
/// </summary>
public sealed record PyStorage(TorchStorage Storage) : PyValue;

/// <summary>
/// One torch storage: the zip record <c>data/&lt;Key&gt;</c> holding <see cref="ElementCount"/> elements of
/// <see cref="DType"/>. Tensors that share a storage refer to the same instance.
/// </summary>
public sealed record TorchStorage(string Key, DType DType, long ElementCount, string Location = "cpu")
{
    public long ByteLength => checked(ElementCount * DType.SizeInBytes());
}

/// <summary>
/// A strided tensor over a <see cref="TorchStorage"/> (<c>torch._utils._rebuild_tensor_v2</c>). Strides and offset are
/// in elements. <see cref="PythonState"/> holds Python attributes carried through <c>_rebuild_from_type_v2</c>
/// (DeepSpeed's <c>ds_id</c>); null when the tensor is a plain tensor.
/// </summary>
public sealed record PyTensor(TorchStorage Storage, long StorageOffset, IReadOnlyList<long> Shape, IReadOnlyList<long> Stride, bool RequiresGrad = false) : PyValue
{
    public PyDict? PythonState { get; init; }

    /// <summary>True for an <c>nn.Parameter</c> (pickled through <c>torch._utils._rebuild_parameter</c>).</summary>
    public bool IsParameter { get; init; }

    public DType DType => Storage.DType;

    /// <summary>Bytes of the storage record this tensor's elements span, when the tensor is contiguous; relative to the record start.</summary>
    /// <exception cref="InvalidOperationException">The tensor is not contiguous.</exception>
    public ByteRange ContiguousBytes() => IsContiguous
        ? ByteRange.FromLength(checked(StorageOffset * DType.SizeInBytes()), checked(ElementCount * DType.SizeInBytes()))
        : throw new InvalidOperationException($"tensor with shape [{string.Join(", ", Shape)}] and stride [{string.Join(", ", Stride)}] is not contiguous");

    public override string ToString() =>
        $"PyTensor {{ {DType}[{string.Join(", ", Shape)}] stride [{string.Join(", ", Stride)}] at {StorageOffset} of storage '{Storage.Key}' }}";

    public long ElementCount => DTypes.ElementCount(Shape.ToArray());

    /// <summary>Row-major strides for a shape (what a contiguous tensor has).</summary>
    public static long[] ContiguousStrides(IReadOnlyList<long> shape)
    {
        var s = new long[shape.Count];
        long acc = 1;
        for (int i = shape.Count - 1; i >= 0; i--)
        {
            s[i] = acc;
            acc = checked(acc * shape[i]);
        }
        return s;
    }

    /// <summary>
    /// Row-major contiguous, as torch's <c>is_contiguous()</c> decides: strides of size-1 dimensions do not
    /// matter (slicing leaves arbitrary ones there), and a tensor with at most one element is contiguous.
    /// </summary>
    public bool IsContiguous
    {
        get
        {
            if (Shape.Any(d => d == 0)) return true;
            long expected = 1;
            for (int i = Shape.Count - 1; i >= 0; i--)
            {
                if (Shape[i] == 1) continue;
                if (Stride[i] != expected) return false;
                expected *= Shape[i];
            }
            return true;
        }
    }
}
