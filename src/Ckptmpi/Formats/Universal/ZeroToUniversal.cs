using System.Text;
using Ckptmpi.Errors;
using Ckptmpi.Formats.DeepSpeed;
using Ckptmpi.Formats.Torch;
using Ckptmpi.Formats.Torch.Pickle;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Formats.Universal;

/// <summary>
/// The universal checkpoint of a plain DeepSpeed engine's ZeRO-1/2/3 run (tp 1, pp 1, HF parameter names): what
/// ds_to_universal writes for it once its model-state file has a <c>universal_checkpoint_info</c>. One folder per
/// parameter of <c>param_shapes</c>, named by it, each state the whole fp32 tensor under <c>cat_dim</c> 0 (one tensor
/// rank: no other marker applies); <c>zero/optimizer_state.pt</c>; <c>mp_rank_00_model_states.pt</c>, data rank 0's
/// model-state graph with an empty <c>universal_checkpoint_info</c> added; <c>latest_universal</c>.
/// </summary>
internal static class ZeroToUniversal
{
    /// <exception cref="CheckpointFormatException">the source has no Adam moments (saved before the first step), naming its optimizer file.</exception>
    /// <exception cref="UnsupportedCheckpointException">a model-state tensor that is neither a module tensor of the catalog nor empty.</exception>
    public static TargetLayout Layout(WriteInput input)
    {
        SourceCatalog catalog = input.Catalog;
        SourceFacts facts = input.Facts;
        IReadOnlyDictionary<string, byte[]> native = facts.NativeFiles
            ?? throw new UnsupportedCheckpointException(catalog.Root, "the ZeRO reader gave no model-state or optimizer pickle");
        string modelFile = Path.Combine(catalog.Root, Encoding.UTF8.GetString(native[ZeroNativeFiles.ModelStatesFile]));
        string optimFile = Path.Combine(catalog.Root, Encoding.UTF8.GetString(native[ZeroNativeFiles.OptimizerFile]));
        var (root, _) = PickleReader.Read(native[ZeroNativeFiles.ModelStatesPickle], modelFile);
        PyDict modelStates = PyRead.Dict(root, modelFile, "model-state file");

        string tag = facts.Training?.Tag ?? throw new UnsupportedCheckpointException(catalog.Root, "the ZeRO reader gave no tag");
        string utag = UniversalPaths.TagFor(tag);
        DeepSpeedPaths.ValidateTag(utag);

        var files = new List<OutputFile>();
        var written = new HashSet<string>(StringComparer.Ordinal);
        foreach (EngineParam p in Params(modelStates, modelFile, catalog))
        {
            string name = p.Name;
            if (!catalog.Contains(name + ZeroCheckpoint.ExpAvgSuffix) || !catalog.Contains(name + ZeroCheckpoint.ExpAvgSqSuffix))
                throw new CheckpointFormatException(optimFile, null, $"holds no Adam moments (exp_avg, exp_avg_sq) for '{name}': a checkpoint saved before the first optimizer step has none, and a universal checkpoint is made of them");
            files.Add(StepFile(catalog, facts, utag, name, optimFile));
            written.Add(name + ZeroCheckpoint.StepSuffix);
            foreach (string state in UniversalPaths.States)
            {
                string suffix = state == UniversalPaths.Fp32 ? "" : "." + state;
                files.Add(UniversalWriter.StateFile(null, p, utag, state, suffix));
                written.Add(name + suffix);
            }
        }
        files.Add(UniversalWriter.OptimizerState(native, utag));
        files.Add(ModelStates(modelStates, modelFile, catalog, utag, written));
        byte[] marker = Encoding.ASCII.GetBytes(utag);
        files.Add(new OutputFile(UniversalPaths.LatestUniversal, marker.Length, [new LiteralSegment(0, marker)], []) { IsCommitMarker = true });

        var notes = new List<string>();
        string[] lost = catalog.Tensors.Select(t => t.Name).Where(n => !written.Contains(n)).ToArray();
        if (lost.Length > 0)
            notes.Add($"not carried into the universal checkpoint: {string.Join(", ", lost.Take(5))}{(lost.Length > 5 ? $" (+{lost.Length - 5} more)" : "")} (neither an optimizer parameter of param_shapes nor a tensor of {Path.GetFileName(modelFile)})");
        return new TargetLayout(new OutputLayout(files), notes);
    }

    /// <summary>The optimizer's parameters in <c>param_shapes</c> order (every group, first listing first), each one catalog tensor merged on dim 0.</summary>
    private static List<EngineParam> Params(PyDict modelStates, string file, SourceCatalog catalog)
    {
        var list = new List<EngineParam>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (PyValue group in PyRead.List(PyRead.Key(modelStates, "param_shapes", file, "model-state file"), file, "param_shapes"))
        {
            foreach (var (name, shape) in PyRead.Named(PyRead.Dict(group, file, "param_shapes group"), file, "param_shapes"))
            {
                if (!seen.Add(name)) continue;
                long[] s = PyRead.Shape(shape, file, name);
                if (!catalog.Contains(name)) throw new CheckpointFormatException(file, null, $"param_shapes lists '{name}', which the optimizer partitions do not hold");
                if (!catalog[name].Shape.SequenceEqual(s)) throw new ShapeMismatchException(file, name, s, catalog[name].Shape.ToArray(), "param_shapes against the partitions");
                list.Add(new EngineParam(name, -1, name, new MergeRule(MergeKind.Cat, 0, false), s, s, [name]));
            }
        }
        return list;
    }

    /// <summary>
    /// <c>step.pt</c>: torch Adam's 0-dim step tensor of the parameter, or the Python int DeepSpeed's FusedAdam keeps for
    /// the whole group (ds_to_universal saves whichever the optimizer holds).
    /// </summary>
    private static OutputFile StepFile(SourceCatalog catalog, SourceFacts facts, string utag, string name, string optimFile)
    {
        string path = UniversalPaths.StateFile(utag, name, UniversalPaths.Step);
        string stepSource = name + ZeroCheckpoint.StepSuffix;
        if (catalog.Contains(stepSource))
        {
            TorchArchivePlan plan = TorchArchiveLayout.Plan(new PyTensor(new TorchStorage("0", DType.F32, 1), 0, [], []), UniversalPaths.Step);
            return plan.ToOutputFile(path, _ => (stepSource, 0));
        }
        if (facts.Training?.Step is string s && long.TryParse(s, out long n))
            return TorchArchiveLayout.Plan(new PyInt(n), UniversalPaths.Step).ToOutputFile(path, (_, _) => []);
        throw new CheckpointFormatException(optimFile, null, $"holds Adam moments but no step for '{name}'");
    }

    /// <summary>
    /// <c>mp_rank_00_model_states.pt</c>: the graph of data rank 0's model-state file with <c>universal_checkpoint_info</c>
    /// empty (tp 1, pp 1: no merge patterns) unless it has one. The module's tensors are refilled from the catalog: a
    /// ZeRO-1/2 module weight is the master cast to the training dtype, which is what the engine saved (it copies the
    /// masters into the module after every step); ZeRO-3 saves empty placeholders; buffers are the catalog's own bytes.
    /// </summary>
    private static OutputFile ModelStates(PyDict modelStates, string file, SourceCatalog catalog, string utag, HashSet<string> written)
    {
        var graph = new PyDict(new List<KeyValuePair<PyValue, PyValue>>(modelStates.Items), modelStates.IsOrdered) { State = modelStates.State };
        if (graph.Get("universal_checkpoint_info") is null) graph.Add("universal_checkpoint_info", new PyDict());
        // ZeRO-1/2 save the module as views of the flat 16-bit group buffers: many tensors per storage, at offsets.
        var fills = new Dictionary<string, SortedDictionary<long, (string Name, long Count)>>(StringComparer.Ordinal);
        if (PyRead.Optional(graph, "module") is PyDict module)
        {
            foreach (var (name, value) in PyRead.Named(module, file, "module"))
            {
                if (value is not PyTensor t || t.ElementCount == 0) continue;
                if (!catalog.Contains(name) || !t.IsContiguous || t.ElementCount != catalog[name].ElementCount)
                    throw new UnsupportedCheckpointException(file, $"module tensor '{name}' is not a contiguous view of a catalog tensor; its bytes cannot be rebuilt");
                var runs = fills.TryGetValue(t.Storage.Key, out var r) ? r : fills[t.Storage.Key] = new();
                runs.TryAdd(t.StorageOffset, (name, t.ElementCount)); // a tied alias views its owner's elements
                written.Add(name);
            }
        }
        TorchArchivePlan plan = TorchArchiveLayout.Plan(graph, TorchArchiveLayout.ArchiveNameFor(DeepSpeedPaths.ModelStates(0)));
        return plan.ToOutputFile($"{utag}/{DeepSpeedPaths.ModelStates(0)}", (storage, range) => Fill(storage, range, fills, file));
    }

    /// <summary>
    /// A module storage: its tensors in offset order, the elements no tensor views (the alignment padding of a flat
    /// group, which DeepSpeed keeps at zero) as zeros.
    /// </summary>
    private static IEnumerable<OutputSegment> Fill(TorchStorage storage, ByteRange range, Dictionary<string, SortedDictionary<long, (string Name, long Count)>> fills, string file)
    {
        if (storage.ElementCount == 0) yield break;
        if (!fills.TryGetValue(storage.Key, out var runs))
            throw new UnsupportedCheckpointException(file, $"holds a tensor outside module (storage {storage.Key}, e.g. ZeRO-3 frozen parameter fragments) that a universal checkpoint cannot rebuild");
        int size = storage.DType.SizeInBytes();
        long at = 0;
        foreach (var (offset, (name, count)) in runs)
        {
            if (offset < at)
                throw new UnsupportedCheckpointException(file, $"module tensor '{name}' overlaps another one in storage {storage.Key}");
            if (offset > at) yield return new ZeroSegment(range.Start + at * size, (offset - at) * size);
            yield return new TensorSegment(range.Start + offset * size, name, 0, count, storage.DType);
            at = offset + count;
        }
        if (at < storage.ElementCount) yield return new ZeroSegment(range.Start + at * size, (storage.ElementCount - at) * size);
    }
}
