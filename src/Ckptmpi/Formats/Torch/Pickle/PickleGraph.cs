using Ckptmpi.Errors;

namespace Ckptmpi.Formats.Torch.Pickle;

/// <summary>
/// Whole-graph checks and helpers over <see cref="PyValue"/>s: children, nesting depth, cycles, and short
/// descriptions for error messages. Iterative throughout, so a hostile graph cannot overflow the stack here.
/// </summary>
public static class PickleGraph
{
    /// <summary>The values directly contained in <paramref name="v"/> (items, keys, values, arguments, state).</summary>
    public static IEnumerable<PyValue> Children(PyValue v)
    {
        switch (v)
        {
            case PyTuple t: foreach (PyValue x in t.Items) yield return x; break;
            case PyList l: foreach (PyValue x in l.Items) yield return x; break;
            case PyDict d:
                foreach (var kv in d.Items) { yield return kv.Key; yield return kv.Value; }
                if (d.State is not null) yield return d.State;
                break;
            case PyObject o:
                yield return o.Args;
                if (o.State is not null) yield return o.State;
                break;
            case PyTensor { PythonState: not null } t: yield return t.PythonState; break;
        }
    }

    /// <summary>
    /// Proves the graph is acyclic and at most <paramref name="maxDepth"/> deep (shared sub-graphs are fine and
    /// visited once). Consumers and the writer recurse, so this is what keeps them safe.
    /// </summary>
    /// <exception cref="CheckpointFormatException">A cycle, or nesting deeper than allowed.</exception>
    public static void CheckDepthAndCycles(PyValue root, int maxDepth, string path, long? offset = null)
    {
        // height[v] = containers on the longest downward path from v (v included), known once v is finished;
        // a finished node met again at depth d still counts d + height[v], so sharing cannot hide depth.
        var height = new Dictionary<PyValue, int>(ReferenceEqualityComparer.Instance);
        var onPath = new HashSet<PyValue>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<Frame>();
        if (!IsContainer(root)) return;
        Enter(root);
        while (stack.Count > 0)
        {
            Frame top = stack.Peek();
            if (top.Next.MoveNext())
            {
                PyValue child = top.Next.Current;
                if (!IsContainer(child)) continue;
                if (height.TryGetValue(child, out int h))
                {
                    CheckDepth(stack.Count + h);
                    top.MaxChildHeight = Math.Max(top.MaxChildHeight, h);
                    continue;
                }
                if (onPath.Contains(child))
                    throw new CheckpointFormatException(path, offset, $"the pickled object graph contains a cycle through a {Describe(child)}; torch checkpoints never do");
                Enter(child);
            }
            else
            {
                stack.Pop();
                onPath.Remove(top.Node);
                int mine = top.MaxChildHeight + 1;
                height[top.Node] = mine;
                if (stack.Count > 0) stack.Peek().MaxChildHeight = Math.Max(stack.Peek().MaxChildHeight, mine);
            }
        }

        void Enter(PyValue v)
        {
            CheckDepth(stack.Count + 1);
            onPath.Add(v);
            stack.Push(new Frame(v, Children(v).GetEnumerator()));
        }

        void CheckDepth(int depth)
        {
            if (depth > maxDepth)
                throw new CheckpointFormatException(path, offset, $"the pickled object graph nests deeper than {maxDepth} levels");
        }
    }

    private sealed class Frame(PyValue node, IEnumerator<PyValue> next)
    {
        public PyValue Node { get; } = node;
        public IEnumerator<PyValue> Next { get; } = next;
        public int MaxChildHeight { get; set; }
    }

    private static bool IsContainer(PyValue v) => v is PyTuple { Items.Count: > 0 } or PyList or PyDict or PyObject or PyTensor { PythonState: not null };

    /// <summary>A short description for messages: "list of 3", "torch.Size object", "str".</summary>
    public static string Describe(PyValue v) => v switch
    {
        PyNone => "None",
        PyBool => "bool",
        PyInt => "int",
        PyFloat => "float",
        PyString => "str",
        PyBytes => "bytes",
        PyTuple t => $"tuple of {t.Items.Count}",
        PyList l => $"list of {l.Items.Count}",
        PyDict { IsOrdered: true } d => $"OrderedDict of {d.Items.Count}",
        PyDict d => $"dict of {d.Items.Count}",
        PyGlobal g => $"global {g}",
        PyObject o => $"{o.Callable} object",
        PyTensor t => $"{t.DType} tensor",
        PyStorage s => $"storage '{s.Storage.Key}'",
        _ => v.GetType().Name,
    };
}
