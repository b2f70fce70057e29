using System.Globalization;
using System.Text;

namespace Ckptmpi.Formats.Torch.Pickle;

/// <summary>
/// A one-line, bounded rendering of a graph: <c>{}</c> plain dict,
/// <c>OD{}</c> OrderedDict, <c>[]</c> list, <c>()</c> tuple, <c>T(dtype,[shape])</c> tensor, <c>Class{...}</c> objects.
/// For <c>inspect</c>-style output and error messages; long containers are cut with "+N more".
/// </summary>
public static class PySkeleton
{
    public static string Render(PyValue root, int maxItems = 8, int maxDepth = 6)
    {
        var sb = new StringBuilder();
        Write(sb, root, maxItems, maxDepth);
        return sb.ToString();
    }

    private static void Write(StringBuilder sb, PyValue v, int maxItems, int depth)
    {
        switch (v)
        {
            case PyNone: sb.Append("None"); return;
            case PyBool b: sb.Append(b.Value ? "True" : "False"); return;
            case PyInt i: sb.Append(i.Value.ToString(CultureInfo.InvariantCulture)); return;
            case PyFloat f: sb.Append(PythonRepr(f.Value)); return;
            case PyString s: sb.Append('\'').Append(s.Value.Length <= 60 ? s.Value : s.Value[..60] + "...").Append('\''); return;
            case PyBytes b: sb.Append("b<").Append(b.Value.Length).Append(" bytes>"); return;
            case PyGlobal g: sb.Append(g); return;
            case PyStorage s: sb.Append("Storage(").Append(s.Storage.DType).Append(',').Append(s.Storage.ElementCount).Append(')'); return;
            case PyTensor t:
                sb.Append("T(").Append(t.DType.ToString().ToLowerInvariant()).Append(",[").AppendJoin(',', t.Shape).Append("])");
                if (t.PythonState is { Items.Count: > 0 } st) { sb.Append('+'); Write(sb, st, maxItems, depth - 1); }
                return;
        }
        if (depth <= 0) { sb.Append("..."); return; }
        switch (v)
        {
            case PyDict d:
                sb.Append(d.IsOrdered ? "OD{" : "{");
                Items(sb, d.Items, maxItems, kv => { Write(sb, kv.Key, maxItems, depth - 1); sb.Append(": "); Write(sb, kv.Value, maxItems, depth - 1); });
                sb.Append('}');
                return;
            case PyList l:
                sb.Append('[');
                Items(sb, l.Items, maxItems, x => Write(sb, x, maxItems, depth - 1));
                sb.Append(']');
                return;
            case PyTuple t:
                sb.Append('(');
                Items(sb, t.Items, maxItems, x => Write(sb, x, maxItems, depth - 1));
                sb.Append(t.Items.Count == 1 ? ",)" : ")");
                return;
            case PyObject o:
                sb.Append(o.Callable.Name);
                if (o.State is PyDict state) { Write(sb, state, maxItems, depth - 1); return; }
                sb.Append('(');
                Items(sb, o.Args.Items, maxItems, x => Write(sb, x, maxItems, depth - 1));
                sb.Append(')');
                return;
        }
    }

    /// <summary>Python's float repr for the common cases: 1.0, 0.001, 1e-08.</summary>
    private static string PythonRepr(double d)
    {
        string r = d.ToString("R", CultureInfo.InvariantCulture);
        if (r.Contains('E')) return r.Replace("E", "e");
        return double.IsFinite(d) && !r.Contains('.') ? r + ".0" : r;
    }

    private static void Items<T>(StringBuilder sb, IReadOnlyList<T> items, int max, Action<T> write)
    {
        for (int i = 0; i < Math.Min(items.Count, max); i++)
        {
            if (i > 0) sb.Append(", ");
            write(items[i]);
        }
        if (items.Count > max) sb.Append(", +").Append(items.Count - max).Append(" more");
    }
}
