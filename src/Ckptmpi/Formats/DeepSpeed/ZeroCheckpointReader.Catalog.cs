using Ckptmpi.Errors;
using Ckptmpi.Formats.Torch;
using Ckptmpi.Formats.Torch.Pickle;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;
using static Ckptmpi.Formats.DeepSpeed.PyRead;

namespace Ckptmpi.Formats.DeepSpeed;

// buffer_names, shared_params and module of the model states, used as zero_to_fp32 uses them (buffers, frozen params, tied aliases).
internal sealed partial class ZeroCheckpointReader
{
    private static IEnumerable<string> BufferNames(PyDict modelRoot, string file) =>
        Optional(modelRoot, "buffer_names") is PyValue b
            ? List(b, file, "buffer_names").Select(x => x is PyString s ? s.Value : throw new CheckpointFormatException(file, null, "buffer_names holds a non-string"))
            : [];

    private void ReadBuffersAndAliases(PyDict modelRoot, TorchArchive model0)
    {
        string f = model0.Path;
        PyDict? module = Optional(modelRoot, "module") as PyDict;
        foreach (string name in BufferNames(modelRoot, f))
        {
            if (_tensors.ContainsKey(name)) continue;
            PyTensor t = Tensor(module?.Get(name) ?? throw new CheckpointFormatException(f, null, "buffer is listed in buffer_names but not in module", name), f, $"buffer '{name}'");
            // Before DeepSpeed 0.19.2 the engine cast the module (buffers included) to half; zero_to_fp32 restores fp32.
            DType logical = t.DType is DType.F16 or DType.BF16 ? DType.F32 : t.DType;
            AddTensor(new SourceTensor(name, logical, t.Shape.ToArray(), [new SourcePiece(0, t.ElementCount, Path.GetFileName(f), StartOf(model0, t), t.DType)]), f);
        }
        if (Optional(modelRoot, "shared_params") is not PyDict shared) return;
        foreach (var (alias, ownerValue) in Named(shared, f, "shared_params"))
        {
            string owner = ownerValue is PyString s ? s.Value : throw new CheckpointFormatException(f, null, "shared_params maps to a non-string", alias);
            if (!_tensors.TryGetValue(owner, out SourceTensor? o))
                throw new CheckpointFormatException(f, null, $"shared_params ties it to '{owner}', which the checkpoint does not hold", alias);
            AddTensor(o with { Name = alias }, f);
        }
    }

    /// <summary>Tensors in module (state_dict) order, then any the module does not list, then the optimizer states.</summary>
    private SourceCatalog BuildCatalog(PyDict? module)
    {
        var ordered = new List<SourceTensor>(_tensors.Count + _optimizerTensors.Count);
        var placed = new HashSet<string>(StringComparer.Ordinal);
        if (module is not null)
        {
            foreach (var kv in module.Items)
            {
                if (kv.Key is PyString s && _tensors.TryGetValue(s.Value, out SourceTensor? t) && placed.Add(s.Value)) ordered.Add(t);
            }
        }
        foreach (string name in _trainableOrder.Concat(_tensors.Keys))
        {
            if (placed.Add(name)) ordered.Add(_tensors[name]);
        }
        var moments = _optimizerTensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
        foreach (SourceTensor t in ordered.ToList())
        {
            foreach (string suffix in new[] { ZeroCheckpoint.ExpAvgSuffix, ZeroCheckpoint.ExpAvgSqSuffix, ZeroCheckpoint.StepSuffix })
            {
                if (moments.TryGetValue(t.Name + suffix, out SourceTensor? m)) ordered.Add(m);
            }
        }
        return new SourceCatalog(_dir, ordered);
    }
}
