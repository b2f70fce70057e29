using Ckptmpi.Errors;
using Ckptmpi.Formats.DeepSpeed;
using Ckptmpi.Formats.Torch;
using Ckptmpi.Formats.Torch.Pickle;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Formats.MegaDs;

/// <summary>
/// A Megatron-DeepSpeed pipeline checkpoint's tag folder: its topology proven from the files against <c>args</c>, and
/// the shard of every parameter on every tensor rank, from the layer files or from the fp32 master partitions.
/// </summary>
internal sealed class MegaDsCheckpoint
{
    private readonly string _dir;
    private readonly string _tag;
    private readonly MegaDsModel _model;
    private readonly List<string> _read = new();

    private MegaDsCheckpoint(string dir, string tag, MegaDsModel model)
    {
        _dir = dir;
        _tag = tag;
        _model = model;
    }

    public MegaDsModel Model => _model;

    public string TagDir => _dir;

    public string Tag => _tag;

    /// <summary>Every file read (for the manifest).</summary>
    public IReadOnlyList<string> FilesRead => _read;

    /// <summary>Whether the tag folder holds ZeRO optimizer partitions for model-parallel rank 0.</summary>
    public bool HasOptimizerFiles => Directory.EnumerateFiles(_dir).Any(f => DeepSpeedPaths.TryParseOptimStates(Path.GetFileName(f), out _, out int mp, out _) && mp == 0);

    /// <summary>Opens the tag folder, reads args from every model-state file and proves the set of files matches them.</summary>
    public static MegaDsCheckpoint Open(string root, string? tag, string? configPath)
    {
        (string tagName, string dir) = ZeroCheckpoint.ResolveTag(root, tag);
        string ms0Path = Path.Combine(dir, DeepSpeedPaths.ModelStates(0));
        if (!File.Exists(ms0Path)) throw new CheckpointFormatException(ms0Path, null, "model-state file of model-parallel rank 0 is missing; not a Megatron-DeepSpeed tag folder");
        TorchArchive ms0 = TorchArchive.Open(ms0Path);
        MegaDsGlobals.CheckModelStates(ms0);
        MegaDsModel fromArgs = MegaDsModel.FromModelStates(ms0);
        MegaDsModel model = fromArgs;
        if (configPath is not null)
        {
            if (!File.Exists(configPath)) throw new FileNotFoundException($"--config {configPath}: no such file", configPath);
            model = fromArgs.WithConfig(configPath, InputFiles.ReadText(configPath));
        }
        model.CheckDivisible(configPath ?? ms0Path);
        var c = new MegaDsCheckpoint(dir, tagName, model);
        c._read.Add(ms0Path);
        c.ProveFiles(ms0);
        return c;
    }

    private void ProveFiles(TorchArchive ms0)
    {
        int tp = _model.Tp, pp = _model.Pp, mpWorld = tp * pp;
        string[] present = Directory.GetFiles(_dir).Select(f => Path.GetFileName(f)!).ToArray();
        var layers = _model.LayerFiles.ToHashSet();
        foreach (string f in present)
        {
            if (MegaDsPaths.TryParseLayerFile(f, out int layer, out int t))
            {
                if (t >= tp)
                    throw new CheckpointFormatException(Path.Combine(_dir, f), null, $"a layer file of tensor rank {t}, but args.tensor_model_parallel_size is {tp} (in {DeepSpeedPaths.ModelStates(0)}): the files do not belong together");
                if (!layers.Contains(layer))
                    throw new CheckpointFormatException(Path.Combine(_dir, f), null, $"a layer file of pipeline layer {layer}, but a GPTModelPipe of {_model.Layers} layers{(_model.Tied ? " with tied embeddings" : "")} has parameter layers {layers.Min()}..{layers.Max()}");
            }
            else if (MegaDsPaths.TryParseModelStates(f, out int mp) && mp >= mpWorld)
            {
                throw new CheckpointFormatException(Path.Combine(_dir, f), null, $"a model-state file of model-parallel rank {mp}, but args say tp {tp} x pp {pp} = {mpWorld} ranks");
            }
        }
        foreach (int layer in layers)
        {
            for (int t = 0; t < tp; t++)
            {
                string name = MegaDsPaths.LayerFile(layer, t);
                if (!present.Contains(name))
                    throw new CheckpointFormatException(Path.Combine(_dir, name), null, $"layer file is missing: args say {_model.Layers} layers and tensor_model_parallel_size {tp}, so pipeline layer {layer} needs one file per tensor rank");
            }
        }
        for (int mp = 0; mp < mpWorld; mp++)
        {
            string path = Path.Combine(_dir, DeepSpeedPaths.ModelStates(mp));
            if (!File.Exists(path))
                throw new CheckpointFormatException(path, null, $"model-state file is missing: args say tp {tp} x pp {pp} = {mpWorld} model-parallel ranks");
            TorchArchive a = mp == 0 ? ms0 : TorchArchive.Open(path);
            if (mp > 0)
            {
                MegaDsGlobals.CheckModelStates(a);
                _read.Add(path);
            }
            if (a.Root is PyDict root && root.Get("mp_world_size") is PyInt w && w.AsLong != mpWorld)
                throw new CheckpointFormatException(path, null, $"mp_world_size is {w.AsLong} but args say tp {tp} x pp {pp} = {mpWorld}");
        }
    }

    /// <summary>Every parameter's shard per tensor rank from the layer files (the training dtype), keyed by (layer, local name).</summary>
    public Dictionary<(int Layer, string Name), LocalShard[]> ModuleShards()
    {
        var shards = new Dictionary<(int, string), LocalShard[]>();
        foreach (int layer in _model.LayerFiles)
        {
            var expected = MegaDsLayout.Params(_model, layer);
            for (int t = 0; t < _model.Tp; t++)
            {
                string name = MegaDsPaths.LayerFile(layer, t), path = Path.Combine(_dir, name);
                TorchArchive a = TorchArchive.Open(path);
                MegaDsGlobals.CheckLayerFile(a);
                _read.Add(path);
                if (a.Root is not PyDict d) throw new CheckpointFormatException(path, null, "a layer file should hold an OrderedDict of tensors");
                var found = PyRead.Named(d, path, "layer file").ToList();
                string[] unknown = found.Select(x => x.Name).Except(expected.Select(e => e.Name)).ToArray();
                if (unknown.Length > 0)
                    throw new CheckpointFormatException(path, null, $"unexpected parameters {string.Join(", ", unknown)}; pipeline layer {layer} of this model holds {string.Join(", ", expected.Select(e => e.Name))}");
                foreach (var (local, shape) in expected)
                {
                    PyValue v = found.FirstOrDefault(x => x.Name == local).Value
                        ?? throw new CheckpointFormatException(path, null, $"parameter '{local}' of pipeline layer {layer} is missing");
                    PyTensor tensor = PyRead.Tensor(v, path, local);
                    if (!tensor.Shape.SequenceEqual(shape))
                        throw new ShapeMismatchException(path, local, shape, tensor.Shape.ToArray(), $"the model is {_model}");
                    long start = checked(a.RangeOf(tensor.Storage).Start + tensor.StorageOffset * tensor.DType.SizeInBytes());
                    Add(shards, layer, local, t, new LocalShard(path, shape, [new SourcePiece(0, tensor.ElementCount, name, start, tensor.DType)]));
                }
            }
        }
        return shards;
    }

    /// <summary>
    /// Every parameter's shard per tensor rank from the fp32 master partitions of the ZeRO optimizer files of each
    /// model-parallel rank (<c>pp_rank * tp + tp_rank</c>), where <c>param_shapes</c> says each one lives. A tied
    /// embedding is kept by the first and the last stage; the first stage's copy is read. With
    /// <paramref name="withStates"/>, also the Adam moments (and a torch Adam's per-param step) by suffix
    /// (<c>.exp_avg</c>, <c>.exp_avg_sq</c>, <c>.step</c>), laid out as the masters are.
    /// </summary>
    public (Dictionary<(int Layer, string Name), LocalShard[]> Weights, Dictionary<string, Dictionary<(int Layer, string Name), LocalShard[]>> States) MasterShards(bool withStates)
    {
        var shards = new Dictionary<(int, string), LocalShard[]>();
        var states = new Dictionary<string, Dictionary<(int Layer, string Name), LocalShard[]>>(StringComparer.Ordinal);
        string[] suffixes = [ZeroCheckpoint.ExpAvgSuffix, ZeroCheckpoint.ExpAvgSqSuffix, ZeroCheckpoint.StepSuffix];
        for (int stage = 0; stage < _model.Pp; stage++)
        {
            for (int t = 0; t < _model.Tp; t++)
            {
                int mp = stage * _model.Tp + t;
                string msPath = Path.Combine(_dir, DeepSpeedPaths.ModelStates(mp));
                ZeroSource zero = ZeroCheckpoint.ReadModelParallelRank(_dir, _tag, mp, withStates);
                var stateNames = new HashSet<string>(zero.Info.StateTensors, StringComparer.Ordinal);
                foreach (SourceTensor s in zero.Catalog.Tensors)
                {
                    string engineName = s.Name;
                    string? suffix = null;
                    if (stateNames.Contains(s.Name))
                    {
                        suffix = suffixes.First(x => s.Name.EndsWith(x, StringComparison.Ordinal));
                        engineName = s.Name[..^suffix.Length];
                    }
                    if (!MegaDsLayout.TryParseEngineName(engineName, out int layer, out string local) || !_model.LayerFiles.Contains(layer)
                        || MegaDsLayout.Params(_model, layer).All(p => p.Name != local))
                        throw new CheckpointFormatException(msPath, null, $"param_shapes lists '{engineName}', which is no parameter of a GPTModelPipe of {_model}");
                    long[] shape = suffix == ZeroCheckpoint.StepSuffix ? [] : MegaDsLayout.Params(_model, layer).First(p => p.Name == local).Shape;
                    if (!s.Shape.SequenceEqual(shape))
                        throw new ShapeMismatchException(msPath, s.Name, shape, s.Shape.ToArray(), $"the model is {_model}");
                    var into = suffix is null ? shards : states.TryGetValue(suffix, out var d) ? d : states[suffix] = new Dictionary<(int, string), LocalShard[]>();
                    if (into.TryGetValue((layer, local), out LocalShard[]? have) && have[t] is not null)
                    {
                        if (engineName == MegaDsLayout.TiedEmbedding) continue;
                        throw new CheckpointFormatException(msPath, null, $"'{engineName}' is also held by another pipeline stage", s.Name);
                    }
                    foreach (string f in s.Pieces.Select(p => p.File).Distinct()) _read.Add(Path.Combine(_dir, f));
                    Add(into, layer, local, t, new LocalShard(msPath, shape, s.Pieces));
                }
            }
        }
        foreach (var set in states.Values.Prepend(shards))
        {
            if (set != shards && set.Count == 0) continue;
            foreach (int layer in _model.LayerFiles)
            {
                foreach (var (local, _) in MegaDsLayout.Params(_model, layer))
                {
                    if (!set.TryGetValue((layer, local), out LocalShard[]? have) || have.Any(s => s is null))
                        throw new CheckpointFormatException(_dir, null, $"no model-parallel rank's optimizer files hold '{layer}.{local}'{(set == shards ? "" : " state")} on every tensor rank: the optimizer files do not cover the model ({_model})");
                }
            }
        }
        return (shards, states);
    }

    private void Add(Dictionary<(int, string), LocalShard[]> shards, int layer, string name, int t, LocalShard s)
    {
        if (!shards.TryGetValue((layer, name), out LocalShard[]? arr)) shards[(layer, name)] = arr = new LocalShard[_model.Tp];
        arr[t] = s;
    }
}
