using Ckptmpi.Formats.Torch;
using Ckptmpi.Formats.Torch.Pickle;
using Ckptmpi.Tensors;

namespace Ckptmpi.Tests.Formats.DeepSpeed;

/// <summary>
/// Compares two torch.save object graphs as torch.load would see them: same types, dict keys in the same order,
/// same scalar values, same tensor dtype/shape/stride/offset/storage size/requires_grad, the same storage sharing,
/// and the same storage bytes. ZeroStageEnum is compared by value (its two pickle forms load to the same member).
/// </summary>
public sealed class PyGraphComparer(TorchArchive ours, TorchArchive theirs, Func<PyTensor, long, bool>? ignoreElement = null)
{
    private readonly Dictionary<string, string> _keyMap = new(StringComparer.Ordinal);
    public List<string> Differences { get; } = new();

    /// <summary>Subtrees (by path prefix) whose values may differ (e.g. ds_config); their structure is not compared either.</summary>
    public HashSet<string> ValuesMayDiffer { get; } = new(StringComparer.Ordinal);

    /// <summary>False to compare tensor metadata and storage sharing only (e.g. against a checkpoint of a later step).</summary>
    public bool CompareBytes { get; init; } = true;

    public void Compare() => Walk(ours.Root, theirs.Root, "root");

    private void Diff(string path, string what)
    {
        if (Differences.Count < 50) Differences.Add($"{Path.GetFileName(ours.Path)} {path}: {what}");
    }

    private void Walk(PyValue a, PyValue b, string path)
    {
        if (ValuesMayDiffer.Contains(path)) return;
        if (IsZeroStage(a) && IsZeroStage(b))
        {
            if (Stage(a) != Stage(b)) Diff(path, $"ZeroStageEnum {Stage(a)} vs {Stage(b)}");
            return;
        }
        if (a.GetType() != b.GetType()) { Diff(path, $"type {a.GetType().Name} vs {b.GetType().Name}"); return; }
        switch (a)
        {
            case PyDict da:
            {
                var db = (PyDict)b;
                if (da.IsOrdered != db.IsOrdered) Diff(path, $"OrderedDict {da.IsOrdered} vs {db.IsOrdered}");
                var ka = da.Items.Select(kv => Show(kv.Key)).ToList();
                var kb = db.Items.Select(kv => Show(kv.Key)).ToList();
                if (!ka.SequenceEqual(kb)) { Diff(path, $"keys [{string.Join(", ", ka.Take(30))}] vs [{string.Join(", ", kb.Take(30))}]"); return; }
                for (int i = 0; i < da.Items.Count; i++) Walk(da.Items[i].Value, db.Items[i].Value, path + "/" + ka[i]);
                if ((da.State is null) != (db.State is null)) Diff(path, "BUILD state present on one side only");
                else if (da.State is not null) Walk(da.State, db.State!, path + "/<state>");
                break;
            }
            case PyList la: Items(la.Items, ((PyList)b).Items, path); break;
            case PyTuple ta: Items(ta.Items, ((PyTuple)b).Items, path); break;
            case PyObject oa:
            {
                var ob = (PyObject)b;
                if (oa.Callable != ob.Callable || oa.Kind != ob.Kind) { Diff(path, $"object {oa.Callable}/{oa.Kind} vs {ob.Callable}/{ob.Kind}"); return; }
                Items(oa.Args.Items, ob.Args.Items, path + "/<args>");
                if ((oa.State is null) != (ob.State is null)) Diff(path, "BUILD state present on one side only");
                else if (oa.State is not null) Walk(oa.State, ob.State!, path + "/<state>");
                break;
            }
            case PyTensor xa: Tensor(xa, (PyTensor)b, path); break;
            default:
                if (!a.Equals(b)) Diff(path, $"{Show(a)} vs {Show(b)}");
                break;
        }
    }

    private void Items(IReadOnlyList<PyValue> a, IReadOnlyList<PyValue> b, string path)
    {
        if (a.Count != b.Count) { Diff(path, $"{a.Count} items vs {b.Count}"); return; }
        for (int i = 0; i < a.Count; i++) Walk(a[i], b[i], $"{path}[{i}]");
    }

    private void Tensor(PyTensor a, PyTensor b, string path)
    {
        if (a.DType != b.DType || !a.Shape.SequenceEqual(b.Shape) || !a.Stride.SequenceEqual(b.Stride) || a.StorageOffset != b.StorageOffset
            || a.Storage.ElementCount != b.Storage.ElementCount || a.RequiresGrad != b.RequiresGrad)
        {
            Diff(path, $"tensor {a.DType}[{string.Join(",", a.Shape)}] off {a.StorageOffset} storage {a.Storage.ElementCount} rg {a.RequiresGrad} vs {b.DType}[{string.Join(",", b.Shape)}] off {b.StorageOffset} storage {b.Storage.ElementCount} rg {b.RequiresGrad}");
            return;
        }
        if (_keyMap.TryGetValue(a.Storage.Key, out string? mapped))
        {
            if (mapped != b.Storage.Key) Diff(path, $"storage sharing differs (ours {a.Storage.Key} already paired with {mapped}, theirs {b.Storage.Key})");
            return;
        }
        _keyMap[a.Storage.Key] = b.Storage.Key;
        if (!CompareBytes) return;
        byte[] x = Read(ours, a), y = Read(theirs, b);
        int size = a.DType.SizeInBytes();
        for (long e = 0; e < a.Storage.ElementCount; e++)
        {
            if (x.AsSpan((int)(e * size), size).SequenceEqual(y.AsSpan((int)(e * size), size))) continue;
            if (ignoreElement is not null && ignoreElement(a, e)) continue;
            Diff(path, $"storage element {e} differs");
            return;
        }
    }

    private static byte[] Read(TorchArchive arc, PyTensor t)
    {
        var buf = new byte[t.Storage.ByteLength];
        using var src = new Ckptmpi.Tensors.FileByteSource(arc.Path);
        src.ReadExactly(arc.RangeOf(t.Storage).Start, buf);
        return buf;
    }

    private static bool IsZeroStage(PyValue v) => v is PyObject o && (o.Callable.Name == "ZeroStageEnum" || o.Args.Items is [PyGlobal { Name: "ZeroStageEnum" }, ..]);

    private static string Stage(PyValue v) => v is PyObject o ? string.Join(",", o.Args.Items.Select(Show)) switch
    {
        "deepspeed.runtime.zero.config.ZeroStageEnum,'optimizer_states'" => "1",
        "deepspeed.runtime.zero.config.ZeroStageEnum,'gradients'" => "2",
        "deepspeed.runtime.zero.config.ZeroStageEnum,'weights'" => "3",
        string s => s,
    } : "?";

    private static string Show(PyValue v) => v switch
    {
        PyString s => $"'{s.Value}'",
        PyInt i => i.Value.ToString(),
        PyFloat f => f.Value.ToString("R"),
        PyBool b => b.Value ? "True" : "False",
        PyNone => "None",
        PyGlobal g => g.ToString(),
        _ => v.GetType().Name,
    };
}
