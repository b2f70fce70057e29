using Ckptmpi.Tensors;

namespace Ckptmpi.Formats.Torch.Pickle;

// torch.load(weights_only=True), the default since torch 2.6.

/// <summary>
/// Lists the globals a graph would pickle that <c>torch.load(weights_only=True)</c> refuses, by the allowlist of
/// torch 2.x, where weights-only loading is the default since 2.6 (names added only by recent releases, such
/// as <c>set</c> and <c>_codecs.encode</c>, count as violations). DeepSpeed's optimizer files always violate
/// (LossScaler, ZeroStageEnum) and are loaded with <c>weights_only=False</c>; universal-checkpoint and pipeline
/// layer files must not. torch 1.13's weights-only loader is stricter still: it has no BINFLOAT or LONG_BINPUT,
/// so only small, float-free pickles load there.
/// </summary>
public static class WeightsOnlyCheck
{
    private static readonly HashSet<PyGlobal> Allowed = BuildAllowed();

    /// <summary>Distinct disallowed globals in first-met order; empty when the graph is weights-only safe.</summary>
    public static IReadOnlyList<PyGlobal> Violations(PyValue root)
    {
        var found = new List<PyGlobal>();
        var seen = new HashSet<PyValue>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<PyValue>();
        stack.Push(root);
        while (stack.Count > 0)
        {
            PyValue v = stack.Pop();
            if (!seen.Add(v)) continue;
            foreach (PyGlobal g in GlobalsOf(v))
            {
                if (!Allowed.Contains(g) && !found.Contains(g)) found.Add(g);
            }
            foreach (PyValue child in PickleGraph.Children(v)) stack.Push(child);
        }
        return found;
    }

    // The globals the writer emits for one value (not its children).
    private static IEnumerable<PyGlobal> GlobalsOf(PyValue v)
    {
        switch (v)
        {
            case PyGlobal g: yield return g; break;
            case PyObject o: yield return o.Callable; break;
            case PyBytes b: yield return b.Value.Length == 0 ? TorchGlobals.Bytes : TorchGlobals.CodecsEncode; break;
            case PyDict { IsOrdered: true }: yield return TorchGlobals.OrderedDict; break;
            case PyStorage s: yield return TorchGlobals.StorageClass(s.Storage.DType); break;
            case PyTensor t:
                yield return TorchGlobals.StorageClass(t.DType);
                yield return TorchGlobals.OrderedDict;
                if (t.IsParameter) yield return t.PythonState is { Items.Count: > 0 } ? TorchGlobals.RebuildParameterWithState : TorchGlobals.RebuildParameter;
                else if (t.PythonState is { Items.Count: > 0 }) yield return TorchGlobals.RebuildFromTypeV2;
                yield return TorchGlobals.RebuildTensorV2;
                break;
        }
    }

    private static HashSet<PyGlobal> BuildAllowed()
    {
        var set = new HashSet<PyGlobal>
        {
            TorchGlobals.OrderedDict, new("collections", "Counter"), TorchGlobals.Parameter, TorchGlobals.Size,
            TorchGlobals.Tensor, TorchGlobals.Device, new("torch.serialization", "_get_layout"),
            TorchGlobals.RebuildParameter, TorchGlobals.RebuildParameterWithState, TorchGlobals.RebuildTensor,
            TorchGlobals.RebuildTensorV2, TorchGlobals.RebuildFromTypeV2,
        };
        foreach (DType d in Enum.GetValues<DType>())
        {
            set.Add(TorchGlobals.DTypeGlobal(d));
            set.Add(TorchGlobals.StorageClass(d));
        }
        return set;
    }
}
