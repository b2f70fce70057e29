using System.Globalization;
using System.Numerics;
using System.Text;
using System.Text.Json;
using Ckptmpi.Errors;
using Ckptmpi.Formats.Torch;
using Ckptmpi.Formats.Torch.Pickle;
using Ckptmpi.Tensors;

namespace Ckptmpi.Cli.Commands;

// inspect for torch.save files (.pt/.bin/.pth), legacy pytorch_model*.bin directories and DeepSpeed checkpoints: only
// the zip directory and the pickle are read. Tensors are listed by their path in the object graph; everything else is
// printed as a tree (long lists cut short).
public static partial class InspectCommand
{
    private const int MaxListItemsShown = 8;
    private const int MaxStringShown = 120;
    private const int MaxDepth = 12;

    private static readonly string[] TorchExtensions = [".pt", ".bin", ".pth"];

    /// <summary>The torch.save files behind <paramref name="target"/>, or null when it is not a torch/DeepSpeed checkpoint.</summary>
    internal static IReadOnlyList<string>? TorchFiles(string target)
    {
        if (File.Exists(target))
            return TorchExtensions.Contains(Path.GetExtension(target)) ? [target] : null;
        if (!Directory.Exists(target)) return null;
        string dir = target;
        string latest = Path.Combine(target, "latest");
        if (File.Exists(latest))
        {
            // DeepSpeed: 'latest' names the tag folder; the tag is data, keep it inside the directory.
            string tag = Formats.DeepSpeed.DeepSpeedPaths.ReadLatest(latest);
            dir = Path.Combine(target, tag);
            if (!Directory.Exists(dir)) throw new CheckpointFormatException(latest, 0, $"'latest' names '{tag}' but {dir} does not exist");
        }
        List<string> files = Directory.EnumerateFiles(dir).Where(f => TorchExtensions.Contains(Path.GetExtension(f)))
            .Order(StringComparer.Ordinal).ToList();
        bool safetensors = Directory.EnumerateFiles(target, "*.safetensors").Any();
        return files.Count == 0 || safetensors ? null : files;
    }

    internal static string TorchText(string target, IReadOnlyList<string> files)
    {
        var text = new StringBuilder();
        foreach (string file in files)
        {
            TorchArchive archive = TorchArchive.Open(file);
            var tensors = new List<(string Path, PyTensor Tensor)>();
            CollectTensors(archive.Root, "", tensors, 0);
            long bytes = archive.Storages.Values.Sum(s => s.ByteLength);
            text.Append(CultureInfo.InvariantCulture, $"== {Path.GetRelativePath(Directory.Exists(target) ? target : Path.GetDirectoryName(Path.GetFullPath(target))!, file)}: torch.save v{archive.Version}, ")
                .Append(CultureInfo.InvariantCulture, $"{tensors.Count} tensors in {archive.Storages.Count} storages, {bytes:N0} bytes of storage\n");
            AppendTree(text, archive.Root, 0);
        }
        return text.ToString();
    }

    private static void CollectTensors(PyValue v, string path, List<(string, PyTensor)> into, int depth)
    {
        if (depth > MaxDepth) return;
        switch (v)
        {
            case PyTensor t: into.Add((path, t)); break;
            case PyDict d:
                foreach (var (k, x) in d.Items) CollectTensors(x, Join(path, KeyText(k)), into, depth + 1);
                break;
            case PyList l:
                for (int i = 0; i < l.Items.Count; i++) CollectTensors(l.Items[i], Join(path, i.ToString(CultureInfo.InvariantCulture)), into, depth + 1);
                break;
            case PyTuple t:
                for (int i = 0; i < t.Items.Count; i++) CollectTensors(t.Items[i], Join(path, i.ToString(CultureInfo.InvariantCulture)), into, depth + 1);
                break;
            case PyObject o when o.State is not null: CollectTensors(o.State, path, into, depth + 1); break;
        }
    }

    private static string Join(string path, string key) => path.Length == 0 ? key : path + "." + key;

    private static string KeyText(PyValue k) => k is PyString s ? s.Value : Scalar(k);

    private static void AppendTree(StringBuilder text, PyValue v, int indent)
    {
        string pad = new(' ', indent * 2);
        switch (v)
        {
            case PyDict d:
                foreach (var (k, x) in d.Items)
                {
                    text.Append(pad).Append(KeyText(k)).Append(": ").Append(Summary(x)).Append('\n');
                    if (indent < MaxDepth && HasChildren(x)) AppendTree(text, x, indent + 1);
                }
                break;
            case PyList or PyTuple:
                IReadOnlyList<PyValue> items = v is PyList l ? l.Items : ((PyTuple)v).Items;
                for (int i = 0; i < Math.Min(items.Count, MaxListItemsShown); i++)
                {
                    text.Append(pad).Append(CultureInfo.InvariantCulture, $"[{i}]: ").Append(Summary(items[i])).Append('\n');
                    if (indent < MaxDepth && HasChildren(items[i])) AppendTree(text, items[i], indent + 1);
                }
                if (items.Count > MaxListItemsShown) text.Append(pad).Append(CultureInfo.InvariantCulture, $"... {items.Count - MaxListItemsShown} more\n");
                break;
            case PyObject { State: not null } o:
                AppendTree(text, o.State, indent);
                break;
        }
    }

    private static bool HasChildren(PyValue v) => v switch
    {
        PyDict d => d.Items.Count > 0,
        PyList l => l.Items.Count > 0,
        PyTuple t => t.Items.Count > 0,
        PyObject o => o.State is PyDict { Items.Count: > 0 },
        _ => false,
    };

    private static string Summary(PyValue v) => v switch
    {
        PyTensor t => $"tensor {t.DType.SafetensorsName()} [{string.Join(", ", t.Shape)}] {t.ElementCount * t.DType.SizeInBytes():N0} bytes"
            + (t.IsParameter ? " (Parameter)" : "") + (t.IsContiguous ? "" : " (strided)"),
        PyDict d => $"{(d.IsOrdered ? "OrderedDict" : "dict")} ({d.Items.Count})",
        PyList l => $"list ({l.Items.Count})",
        PyTuple t when t.Items.All(i => i is PyInt or PyFloat or PyBool or PyNone) && t.Items.Count <= MaxListItemsShown => $"({string.Join(", ", t.Items.Select(Scalar))})",
        PyTuple t => $"tuple ({t.Items.Count})",
        PyObject o => $"{o.Callable}({string.Join(", ", o.Args.Items.Take(4).Select(a => a is PyTensor or PyDict or PyList ? Summary(a) : Scalar(a)))})",
        PyStorage s => $"storage {s.Storage.DType.SafetensorsName()} x {s.Storage.ElementCount:N0}",
        _ => Scalar(v),
    };

    private static string Scalar(PyValue v) => v switch
    {
        PyNone => "None",
        PyBool b => b.Value ? "True" : "False",
        PyInt i => i.Value.ToString(CultureInfo.InvariantCulture),
        PyFloat f => PythonFloat(f.Value),
        PyString s => "'" + (s.Value.Length > MaxStringShown ? s.Value[..MaxStringShown] + "..." : s.Value) + "'",
        PyBytes b => $"bytes ({b.Value.Length})",
        PyGlobal g => g.ToString(),
        _ => Summary(v),
    };

    // Python's repr: 1.0 not 1, 1e-08 not 1E-08.
    private static string PythonFloat(double d)
    {
        if (double.IsNaN(d)) return "nan";
        if (double.IsInfinity(d)) return d > 0 ? "inf" : "-inf";
        string s = d.ToString("R", CultureInfo.InvariantCulture).Replace("E", "e");
        return s.Contains('.') || s.Contains('e') ? s : s + ".0";
    }

    internal static string TorchJson(string target, IReadOnlyList<string> files)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("path", target);
            w.WriteString("format", "torch");
            w.WriteStartArray("files");
            foreach (string file in files)
            {
                TorchArchive archive = TorchArchive.Open(file);
                var tensors = new List<(string Path, PyTensor Tensor)>();
                CollectTensors(archive.Root, "", tensors, 0);
                w.WriteStartObject();
                w.WriteString("file", file);
                w.WriteNumber("version", archive.Version);
                w.WriteStartArray("tensors");
                foreach ((string name, PyTensor t) in tensors)
                {
                    w.WriteStartObject();
                    w.WriteString("name", name);
                    w.WriteString("dtype", t.DType.SafetensorsName());
                    w.WriteStartArray("shape");
                    foreach (long d in t.Shape) w.WriteNumberValue(d);
                    w.WriteEndArray();
                    w.WriteNumber("bytes", t.ElementCount * t.DType.SizeInBytes());
                    w.WriteString("storage", t.Storage.Key);
                    w.WriteNumber("storage_offset", t.StorageOffset);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WritePropertyName("tree");
                WriteValue(w, archive.Root, 0);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray()) + "\n";
    }

    private static void WriteValue(Utf8JsonWriter w, PyValue v, int depth)
    {
        if (depth > MaxDepth)
        {
            w.WriteStringValue("...");
            return;
        }
        switch (v)
        {
            case PyNone: w.WriteNullValue(); break;
            case PyBool b: w.WriteBooleanValue(b.Value); break;
            case PyInt i when i.Value >= long.MinValue && i.Value <= long.MaxValue: w.WriteNumberValue((long)i.Value); break;
            case PyInt i: w.WriteStringValue(i.Value.ToString(CultureInfo.InvariantCulture)); break;
            case PyFloat f when double.IsFinite(f.Value): w.WriteNumberValue(f.Value); break;
            case PyFloat f: w.WriteStringValue(f.Value.ToString(CultureInfo.InvariantCulture)); break;
            case PyString s: w.WriteStringValue(s.Value); break;
            case PyTensor t: w.WriteStringValue(Summary(t)); break;
            case PyDict d:
                w.WriteStartObject();
                foreach (var (k, x) in d.Items)
                {
                    w.WritePropertyName(KeyText(k));
                    WriteValue(w, x, depth + 1);
                }
                w.WriteEndObject();
                break;
            case PyList or PyTuple:
                w.WriteStartArray();
                foreach (PyValue x in v is PyList l ? l.Items : ((PyTuple)v).Items) WriteValue(w, x, depth + 1);
                w.WriteEndArray();
                break;
            case PyObject o:
                w.WriteStartObject();
                w.WriteString("object", o.Callable.ToString());
                w.WritePropertyName("args");
                WriteValue(w, o.Args, depth + 1);
                if (o.State is not null)
                {
                    w.WritePropertyName("state");
                    WriteValue(w, o.State, depth + 1);
                }
                w.WriteEndObject();
                break;
            default: w.WriteStringValue(Scalar(v)); break;
        }
    }
}
