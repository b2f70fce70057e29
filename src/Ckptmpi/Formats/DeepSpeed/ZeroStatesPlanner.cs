using Ckptmpi.Formats.Torch.Pickle;
using Ckptmpi.Tensors;
using static Ckptmpi.Formats.DeepSpeed.ZeroPy;

namespace Ckptmpi.Formats.DeepSpeed;

// Model states, ZeRO-1/2 and ZeRO-3 optimizer states and their partitions (docs/formats/deepspeed-zero.md); key sets and
// orders checked against the DeepSpeed 0.14.4 step-0 fixtures (z{1,2,3}_w2_bf16_step0).

/// <summary>
/// The object graphs and storage contents of every torch.save file DeepSpeed writes at step 0, from parameter metadata
/// alone. Storages are created in the order the pickler first meets them, so their keys are "0", "1", ... in order.
/// </summary>
internal static class ZeroStatesPlanner
{
    public static IReadOnlyList<PlannedTorchFile> Plan(IReadOnlyList<ParamSpec> specs, ZeroWriteOptions o)
    {
        o.Validate();
        ValidateParams(specs);
        var trainable = specs.Where(p => p.TiedTo is null && p.Trainable).ToList();
        var files = new List<PlannedTorchFile>();
        if (o.Stage <= 2)
        {
            var flat = FlatGroupPartitioning.For(trainable.Select(p => p.ElementCount).ToList(), o.DpSize);
            files.Add(Zero12ModelStates(specs, trainable, flat, o));
            for (int r = 0; r < o.DpSize; r++) files.Add(Zero12OptimStates(trainable, flat, r, o));
        }
        else
        {
            var z3 = Zero3Partitioning.For(trainable.Select(p => p.ElementCount).ToList(), o.DpSize, o.SubGroupSize);
            // Without frozen params the model-state files of ranks 1..dp-1 are the same graph (only rank 0 lists
            // shared_params): built once and laid out under each name.
            bool sameAfterRank0 = !specs.Any(p => p.TiedTo is null && !p.Trainable);
            for (int r = 0; r < o.DpSize; r++)
                files.Add(sameAfterRank0 && r > 1 ? files[1] with { RelativePath = ModelPath(o, r) } : Zero3ModelStates(specs, trainable, z3, r, o));
            for (int r = 0; r < o.DpSize; r++) files.Add(Zero3OptimStates(trainable, z3, r, o));
        }
        foreach (PlannedTorchFile f in files) f.Validate();
        return files;
    }

    /// <exception cref="ArgumentException">duplicate names, an alias of an unknown or later param, or a shape mismatch.</exception>
    private static void ValidateParams(IReadOnlyList<ParamSpec> specs)
    {
        var owners = new Dictionary<string, ParamSpec>(StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (ParamSpec p in specs)
        {
            if (!seen.Add(p.Name)) throw new ArgumentException($"parameter '{p.Name}' is listed twice");
            if (p.TiedTo is null) { owners[p.Name] = p; continue; }
            if (!owners.TryGetValue(p.TiedTo, out ParamSpec? owner))
                throw new ArgumentException($"parameter '{p.Name}' is tied to '{p.TiedTo}', which is not an earlier untied parameter");
            if (!owner.Shape.SequenceEqual(p.Shape))
                throw new ArgumentException($"tied parameter '{p.Name}' has shape [{string.Join(", ", p.Shape)}] but '{owner.Name}' has [{string.Join(", ", owner.Shape)}]");
        }
    }

    private static string ModelPath(ZeroWriteOptions o, int rank) => DeepSpeedPaths.InTag(o.Tag, DeepSpeedPaths.ModelStatesFor(o.Stage, rank));

    private static string OptimPath(ZeroWriteOptions o, int rank) => DeepSpeedPaths.InTag(o.Tag, DeepSpeedPaths.OptimStates(rank, o.DType == DType.BF16));

    // ---- ZeRO-1/2 ----

    private static PlannedTorchFile Zero12ModelStates(IReadOnlyList<ParamSpec> specs, List<ParamSpec> trainable, FlatGroupPartitioning flat, ZeroWriteOptions o)
    {
        var storages = new StorageCollector();
        var module = new PyDict(isOrdered: true) { State = ModuleMetadata(specs.Select(p => p.Name)) };
        var index = trainable.Select((p, i) => (p.Name, i)).ToDictionary(x => x.Name, x => x.i, StringComparer.Ordinal);
        TorchStorage? flatStorage = null;
        var own = new Dictionary<string, PyTensor>(StringComparer.Ordinal);
        foreach (ParamSpec p in specs)
        {
            PyTensor t;
            if (p.TiedTo is not null)
            {
                PyTensor ot = own[p.TiedTo];
                t = Tensor(ot.Storage, ot.StorageOffset, p.Shape, false);
            }
            else if (index.TryGetValue(p.Name, out int i))
            {
                // Trainable params are views of the group's flat 16-bit buffer, tail padding included, as DeepSpeed saves them.
                flatStorage ??= storages.Add(o.DType, FlatBufferFills(trainable, flat));
                t = Tensor(flatStorage, flat.FlatOffset(i), p.Shape, false);
            }
            else
            {
                t = Tensor(storages.Add(o.DType, [new TensorFill(p.Name, 0, p.ElementCount)]), 0, p.Shape, false);
            }
            if (p.TiedTo is null) own[p.Name] = t;
            module.Add(p.Name, t);
        }
        var frozen = specs.Where(p => p.TiedTo is null && !p.Trainable).ToList();
        PyValue frozenShapes = PyNone.Instance, frozenFragments = PyNone.Instance;
        if (o.Stage >= 2)
        {
            frozenShapes = ShapesDict(frozen);
            var ff = new PyDict(isOrdered: true);
            foreach (ParamSpec p in frozen)
                ff.Add(p.Name, Tensor(storages.Add(o.DType, [new TensorFill(p.Name, 0, p.ElementCount)]), 0, p.Shape, false));
            frozenFragments = ff;
        }
        PyDict root = ModelStatesRoot(module, new PyList([ShapesDict(trainable)]), frozenShapes, SharedParams(specs), frozenFragments, o);
        return new PlannedTorchFile(ModelPath(o, 0), root, storages.Plans);
    }

    private static List<StorageFill> FlatBufferFills(List<ParamSpec> trainable, FlatGroupPartitioning flat)
    {
        var fills = trainable.Select(p => (StorageFill)new TensorFill(p.Name, 0, p.ElementCount)).ToList();
        if (flat.TotalPadding > 0) fills.Add(new ZeroFill(flat.TotalPadding));
        return fills;
    }

    private static PlannedTorchFile Zero12OptimStates(List<ParamSpec> trainable, FlatGroupPartitioning flat, int rank, ZeroWriteOptions o)
    {
        var storages = new StorageCollector();
        long pad = flat.Padding(rank);
        // Pickling order: the Adam state (inside base_optimizer_state) comes before the fp32 partition.
        PyDict? adam = o.Resume is ZeroResumeState resume
            ? AdamState(storages, resume, [(trainable[0].Name, Fills(flat.Fragments(rank).Select(f => (trainable[f.ParamIndex].Name, f.ParamOffset, f.Count)), pad))])
            : null;
        var fills = new List<StorageFill>();
        var mappings = new PyDict(isOrdered: true);
        foreach (PartitionFragment f in flat.Fragments(rank))
        {
            string name = trainable[f.ParamIndex].Name;
            fills.Add(new TensorFill(name, f.ParamOffset, f.Count));
            mappings.Add(name, FragmentAddress(f.Count, f.PartitionOffset));
        }
        if (pad > 0) fills.Add(new ZeroFill(pad));
        // The saved fp32 tensor is the lean view (padding cut off) of the padded partition's storage, as DeepSpeed saves it.
        PyTensor fp32 = Tensor(storages.Add(DType.F32, fills), 0, [flat.ValidElements(rank)], requiresGrad: true);

        var osd = new PyDict();
        osd.Add("loss_scaler", LossScaler(o));
        osd.Add("dynamic_loss_scale", B(DynamicLossScale(o)));
        osd.Add("overflow", PyBool.False);
        osd.Add("clip_grad", F(o.GradientClipping));
        osd.Add("base_optimizer_state", BaseOptimizerState(o.Optimizer, [0], adam));
        osd.Add("single_partition_of_fp32_groups", new PyList([fp32]));
        osd.Add("zero_stage", ZeroStage(o.Stage));
        osd.Add("group_paddings", new PyList([I(pad)]));
        osd.Add("partition_count", new PyList([I(o.DpSize)]));
        osd.Add("ds_version", S(o.DsVersion));
        osd.Add("param_slice_mappings", new PyList([mappings]));
        return new PlannedTorchFile(OptimPath(o, rank), OptimRoot(osd, o), storages.Plans);
    }

    // ---- ZeRO-3 ----

    private static PlannedTorchFile Zero3ModelStates(IReadOnlyList<ParamSpec> specs, List<ParamSpec> trainable, Zero3Partitioning z3, int rank, ZeroWriteOptions o)
    {
        var storages = new StorageCollector();
        var module = new PyDict(isOrdered: true) { State = ModuleMetadata(specs.Select(p => p.Name)) };
        var own = new Dictionary<string, TorchStorage>(StringComparer.Ordinal);
        foreach (ParamSpec p in specs)
        {
            // Partitioned params have param.data = empty(0) at save time: a [0] tensor on its own empty storage.
            TorchStorage s = p.TiedTo is not null ? own[p.TiedTo] : storages.Add(o.DType, []);
            if (p.TiedTo is null) own[p.Name] = s;
            module.Add(p.Name, Tensor(s, 0, [0], false));
        }
        var frozen = specs.Where(p => p.TiedTo is null && !p.Trainable).ToList();
        var frozenZ3 = Zero3Partitioning.For(frozen.Select(p => p.ElementCount).ToList(), o.DpSize);
        var ff = new PyDict(isOrdered: true);
        for (int i = 0; i < frozen.Count; i++)
        {
            var fills = new List<StorageFill>();
            AddPartition(fills, frozen[i].Name, frozenZ3, i, rank);
            ff.Add(frozen[i].Name, Tensor(storages.Add(o.DType, fills), 0, [frozenZ3.PartitionNumel(i)], false));
        }
        var shapes = new PyList();
        for (int g = 0; g < z3.SubGroupCount; g++)
        {
            (int first, int count, _) = z3.SubGroup(g);
            shapes.Items.Add(ShapesDict(trainable.GetRange(first, count)));
        }
        // shared_params is computed on global rank 0 only; other ranks' files hold {}.
        PyDict shared = rank == 0 ? SharedParams(specs) : new PyDict();
        PyDict root = ModelStatesRoot(module, shapes, ShapesDict(frozen), shared, ff, o);
        return new PlannedTorchFile(ModelPath(o, rank), root, storages.Plans);
    }

    private static void AddPartition(List<StorageFill> fills, string name, Zero3Partitioning z3, int param, int rank)
    {
        (long start, long count) = z3.ValidRange(param, rank);
        if (count > 0) fills.Add(new TensorFill(name, start, count));
        long pad = z3.PartitionNumel(param) - count;
        if (pad <= 0) return;
        if (fills.Count > 0 && fills[^1] is ZeroFill z) fills[^1] = new ZeroFill(z.Count + pad);
        else fills.Add(new ZeroFill(pad));
    }

    private static PlannedTorchFile Zero3OptimStates(List<ParamSpec> trainable, Zero3Partitioning z3, int rank, ZeroWriteOptions o)
    {
        var storages = new StorageCollector();
        PyDict? adam = null;
        if (o.Resume is ZeroResumeState resume)
        {
            var perGroup = new List<(string, List<StorageFill>)>();
            for (int g = 0; g < z3.SubGroupCount; g++)
            {
                (int first, int count, _) = z3.SubGroup(g);
                var names = new List<StorageFill>();
                for (int i = first; i < first + count; i++) AddPartition(names, trainable[i].Name, z3, i, rank);
                perGroup.Add((trainable[first].Name, names));
            }
            adam = AdamState(storages, resume, perGroup);
        }
        var groups = new PyList();
        for (int g = 0; g < z3.SubGroupCount; g++)
        {
            (int first, int count, long numel) = z3.SubGroup(g);
            var fills = new List<StorageFill>();
            for (int i = first; i < first + count; i++) AddPartition(fills, trainable[i].Name, z3, i, rank);
            groups.Items.Add(Tensor(storages.Add(DType.F32, fills), 0, [numel], requiresGrad: true));
        }
        var osd = new PyDict();
        osd.Add("zero_stage", ZeroStage(3));
        osd.Add("loss_scaler", LossScaler(o));
        osd.Add("dynamic_loss_scale", B(DynamicLossScale(o)));
        osd.Add("overflow", PyBool.False);
        osd.Add("partition_count", I(o.DpSize));
        osd.Add("optimizer_state_dict", BaseOptimizerState(o.Optimizer, Enumerable.Range(0, z3.SubGroupCount).Select(i => (long)i), adam));
        osd.Add("fp32_flat_groups", groups);
        return new PlannedTorchFile(OptimPath(o, rank), OptimRoot(osd, o), storages.Plans);
    }

    // ---- shared pieces ----

    private static List<StorageFill> Fills(IEnumerable<(string Name, long First, long Count)> fragments, long pad)
    {
        var fills = fragments.Select(f => (StorageFill)new TensorFill(f.Name, f.First, f.Count)).ToList();
        if (pad > 0) fills.Add(new ZeroFill(pad));
        return fills;
    }

    /// <summary>
    /// A trained optimizer's <c>state</c>: per group, in torch Adam's order, <c>step</c> (a 0-dim fp32 tensor copied
    /// from the group's first param, or FusedAdam's int), then <c>exp_avg</c> and <c>exp_avg_sq</c> over the group's
    /// whole padded partition (the padding zero, as it stays in training: its gradients are zero).
    /// </summary>
    /// <param name="groups">per group: the param whose step it takes, and the fp32 partition's fills (param names).</param>
    private static PyDict AdamState(StorageCollector storages, ZeroResumeState resume, IReadOnlyList<(string StepFrom, List<StorageFill> Fills)> groups)
    {
        var state = new PyDict();
        for (int g = 0; g < groups.Count; g++)
        {
            (string stepFrom, List<StorageFill> fills) = groups[g];
            long numel = fills.Sum(f => f.Count);
            var s = new PyDict();
            s.Add("step", resume.StepNumber is long n ? I(n)
                : Tensor(storages.Add(DType.F32, [new TensorFill(stepFrom + ZeroCheckpoint.StepSuffix, 0, 1)]), 0, [], false));
            s.Add("exp_avg", Tensor(storages.Add(DType.F32, Moments(fills, ZeroCheckpoint.ExpAvgSuffix)), 0, [numel], false));
            s.Add("exp_avg_sq", Tensor(storages.Add(DType.F32, Moments(fills, ZeroCheckpoint.ExpAvgSqSuffix)), 0, [numel], false));
            state.Items.Add(new(I(g), s));
        }
        return state;
    }

    private static List<StorageFill> Moments(List<StorageFill> weights, string suffix) =>
        weights.Select(f => f is TensorFill t ? t with { Tensor = t.Tensor + suffix } : f).ToList();

    private static PyDict ShapesDict(IEnumerable<ParamSpec> ps)
    {
        var d = new PyDict(isOrdered: true);
        foreach (ParamSpec p in ps) d.Add(p.Name, Size(p.Shape));
        return d;
    }

    private static PyDict SharedParams(IReadOnlyList<ParamSpec> specs)
    {
        var d = new PyDict();
        foreach (ParamSpec p in specs.Where(p => p.TiedTo is not null)) d.Add(p.Name, S(p.TiedTo!));
        return d;
    }

    private static PyDict OptimRoot(PyDict osd, ZeroWriteOptions o)
    {
        var root = new PyDict();
        root.Add("optimizer_state_dict", osd);
        root.Add("ds_config", DsConfig.For(o));
        root.Add("ds_version", S(o.DsVersion));
        return root;
    }

    private static PyDict ModelStatesRoot(PyDict module, PyList paramShapes, PyValue frozenShapes, PyDict shared, PyValue frozenFragments, ZeroWriteOptions o)
    {
        var d = new PyDict();
        d.Add("module", module);
        d.Add("buffer_names", new PyList());
        d.Add("optimizer", PyNone.Instance);
        d.Add("param_shapes", paramShapes);
        d.Add("frozen_param_shapes", frozenShapes);
        d.Add("shared_params", shared);
        d.Add("frozen_param_fragments", frozenFragments);
        d.Add("lr_scheduler", PyNone.Instance);
        d.Add("data_sampler", PyNone.Instance);
        d.Add("random_ltd", PyNone.Instance);
        d.Add("sparse_tensor_module_names", EmptySet());
        IReadOnlyDictionary<string, long> counters = o.Resume?.Counters ?? new Dictionary<string, long>();
        d.Add("skipped_steps", I(counters.GetValueOrDefault("skipped_steps")));
        d.Add("global_steps", I(counters.GetValueOrDefault("global_steps")));
        d.Add("global_samples", I(counters.GetValueOrDefault("global_samples")));
        d.Add("dp_world_size", I(o.DpSize));
        d.Add("mp_world_size", I(1));
        d.Add("ds_config", DsConfig.For(o));
        d.Add("ds_version", S(o.DsVersion));
        return d;
    }
}
