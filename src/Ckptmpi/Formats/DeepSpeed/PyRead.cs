using Ckptmpi.Errors;
using Ckptmpi.Formats.Torch.Pickle;

namespace Ckptmpi.Formats.DeepSpeed;

/// <summary>Typed access to a DeepSpeed pickle's values; anything unexpected is a CheckpointFormatException naming the file and key.</summary>
internal static class PyRead
{
    public static PyDict Dict(PyValue? v, string file, string what) =>
        v as PyDict ?? throw Bad(file, what, "a dict", v);

    public static PyValue Key(PyDict d, string key, string file, string what) =>
        d.Get(key) ?? throw new CheckpointFormatException(file, null, $"{what} has no '{key}' entry (keys: {string.Join(", ", Keys(d).Take(20))})");

    public static PyValue? Optional(PyDict d, string key) => d.Get(key) is PyValue v and not PyNone ? v : null;

    public static IReadOnlyList<PyValue> List(PyValue? v, string file, string what) => v switch
    {
        PyList l => l.Items,
        PyTuple t => t.Items,
        _ => throw Bad(file, what, "a list", v),
    };

    public static long Int(PyValue? v, string file, string what) => v switch
    {
        PyInt i => i.AsLong,
        PyBool b => b.Value ? 1 : 0,
        _ => throw Bad(file, what, "an int", v),
    };

    public static PyTensor Tensor(PyValue? v, string file, string what)
    {
        var t = v as PyTensor ?? throw Bad(file, what, "a tensor", v);
        if (!t.IsContiguous) throw new CheckpointFormatException(file, null, $"{what} is not contiguous (shape [{string.Join(", ", t.Shape)}], stride [{string.Join(", ", t.Stride)}])");
        return t;
    }

    /// <summary>A shape: torch.Size(...), a tuple or a list of ints.</summary>
    public static long[] Shape(PyValue? v, string file, string what)
    {
        IReadOnlyList<PyValue> dims = v switch
        {
            PyObject { Args.Items: [PyTuple t] } o when o.Callable.Module == "torch" && o.Callable.Name == "Size" => t.Items,
            PyObject { Args.Items: [PyList l] } o when o.Callable.Module == "torch" && o.Callable.Name == "Size" => l.Items,
            PyTuple t => t.Items,
            PyList l => l.Items,
            _ => throw Bad(file, what, "a shape (torch.Size)", v),
        };
        return dims.Select(d => Int(d, file, what)).ToArray();
    }

    /// <summary>
    /// The stage of a <c>ZeroStageEnum</c>: by value (<c>ZeroStageEnum(2)</c>), by name (<c>getattr(ZeroStageEnum,
    /// 'gradients')</c>, early CPython 3.11), or a plain int.
    /// </summary>
    public static int ZeroStage(PyValue? v, string file)
    {
        switch (v)
        {
            case PyInt i: return (int)i.AsLong;
            case PyObject { Args.Items: [PyInt i] } o when o.Callable.Name == "ZeroStageEnum": return (int)i.AsLong;
            case PyObject { Args.Items: [PyGlobal cls, PyString name] } o when o.Callable.Name == "getattr" && cls.Name == "ZeroStageEnum":
                return name.Value switch
                {
                    "disabled" => 0, "optimizer_states" => 1, "gradients" => 2, "weights" => 3, "max_stage" => 3,
                    _ => throw new CheckpointFormatException(file, null, $"unknown ZeroStageEnum member '{name.Value}'"),
                };
            default: throw Bad(file, "zero_stage", "a ZeroStageEnum", v);
        }
    }

    public static IEnumerable<string> Keys(PyDict d) => d.Items.Select(kv => kv.Key is PyString s ? s.Value : kv.Key.ToString() ?? "?");

    /// <summary>Entries of a name-keyed dict (OrderedDict of params, shapes, fragments) in order.</summary>
    public static IEnumerable<(string Name, PyValue Value)> Named(PyDict d, string file, string what) =>
        d.Items.Select(kv => (kv.Key is PyString s ? s.Value : throw Bad(file, what + " key", "a str", kv.Key), kv.Value));

    /// <summary>Looks up an int-keyed entry (optimizer <c>state[i]</c>).</summary>
    public static PyValue? IntKey(PyDict d, long key)
    {
        foreach (var kv in d.Items)
        {
            if (kv.Key is PyInt i && i.AsLong == key) return kv.Value;
        }
        return null;
    }

    private static CheckpointFormatException Bad(string file, string what, string expected, PyValue? actual) =>
        new(file, null, $"{what} should be {expected} but is {Describe(actual)}");

    private static string Describe(PyValue? v) => v switch
    {
        null => "missing",
        PyNone => "None",
        PyObject o => $"an object of {o.Callable}",
        _ => v.GetType().Name,
    };
}
