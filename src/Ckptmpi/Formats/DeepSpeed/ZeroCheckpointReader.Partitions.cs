using System.Globalization;
using Ckptmpi.Errors;
using Ckptmpi.Formats.Torch;
using Ckptmpi.Formats.Torch.Pickle;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;
using static Ckptmpi.Formats.DeepSpeed.PyRead;

namespace Ckptmpi.Formats.DeepSpeed;

// ZeRO-1/2 and BF16_Optimizer flat groups, ZeRO-3 per-parameter partitions, Adam state: docs/formats/deepspeed-zero.md.
internal sealed partial class ZeroCheckpointReader
{
    // ---- ZeRO-1/2 and BF16_Optimizer ----

    private void ReadStage12(ZeroKind kind, PyDict modelRoot, TorchArchive model0, TorchArchive[] optims, PyDict[] osds)
    {
        int world = optims.Length;
        IReadOnlyList<PyValue> groups = List(Key(modelRoot, "param_shapes", model0.Path, "model-state file"), model0.Path, "param_shapes");
        var fp32 = new IReadOnlyList<PyValue>[world];
        var pads = new IReadOnlyList<PyValue>[world];
        for (int r = 0; r < world; r++)
        {
            string f = optims[r].Path;
            fp32[r] = List(Key(osds[r], "single_partition_of_fp32_groups", f, "optimizer_state_dict"), f, "single_partition_of_fp32_groups");
            pads[r] = List(Key(osds[r], "group_paddings", f, "optimizer_state_dict"), f, "group_paddings");
            if (fp32[r].Count != groups.Count || pads[r].Count != groups.Count)
                throw new CheckpointFormatException(f, null, $"{fp32[r].Count} fp32 partitions and {pads[r].Count} group paddings, but param_shapes in {model0.Path} has {groups.Count} groups");
        }
        for (int g = 0; g < groups.Count; g++)
        {
            var ps = Named(Dict(groups[g], model0.Path, $"param_shapes[{g}]"), model0.Path, $"param_shapes[{g}]")
                .Select(x => (x.Name, Shape: Shape(x.Value, model0.Path, $"param_shapes[{g}]['{x.Name}']"))).ToList();
            long orig = ps.Sum(p => DTypes.ElementCount(p.Shape));
            var tensors = new PyTensor[world];
            var valid = new long[world];
            for (int r = 0; r < world; r++)
                tensors[r] = Tensor(fp32[r][g], optims[r].Path, $"single_partition_of_fp32_groups[{g}]");
            ProvePartitions(kind, g, orig, tensors, pads, optims, valid);

            var flat = new RankRuns();
            for (int r = 0; r < world; r++)
                flat.Add(Path.GetFileName(optims[r].Path), optims[r].RangeOf(tensors[r].Storage).Start + tensors[r].StorageOffset * tensors[r].DType.SizeInBytes(), valid[r], tensors[r].DType);
            long off = 0;
            foreach (var (name, shape) in ps)
            {
                long n = DTypes.ElementCount(shape);
                var pieces = new List<SourcePiece>();
                flat.Map(off, n, 0, pieces);
                AddTensor(new SourceTensor(name, tensors[0].DType, shape, pieces), model0.Path);
                _trainableOrder.Add(name);
                off += n;
            }
            if (_withOptimizer) ReadMoments12(g, ps, valid, optims, osds);
        }
        ReadFrozen12(modelRoot, model0);
    }

    /// <summary>
    /// Proven before any data is read: the params of group g consume exactly the stored elements minus the documented
    /// padding, and every rank's partition has the same size.
    /// </summary>
    private static void ProvePartitions(ZeroKind kind, int g, long orig, PyTensor[] tensors, IReadOnlyList<PyValue>[] pads, TorchArchive[] optims, long[] valid)
    {
        int world = tensors.Length;
        var pad = new long[world];
        for (int r = 0; r < world; r++) pad[r] = Int(pads[r][g], optims[r].Path, $"group_paddings[{g}]");
        if (kind == ZeroKind.Stage12 && world > 1 && pad[^1] > tensors[0].ElementCount + pad[0])
        {
            // DeepSpeed records the group's whole padding on the last rank and saves group[:numel - padding]: when the
            // padding exceeds a partition (a small group on many ranks, dp 768 at ALCF) the ranks before the last hold
            // padding too, saved in full and recorded as 0, and the last rank's Python slice has a negative end.
            long ps = tensors[0].ElementCount + pad[0];
            for (int r = 0; r < world; r++)
            {
                long saved = r == world - 1 ? Math.Max(0, ps + Math.Min(0, ps - pad[r])) : ps - pad[r];
                if (tensors[r].ElementCount != saved)
                    throw new CheckpointFormatException(optims[r].Path, null, $"group {g}: partition of {tensors[r].ElementCount} elements, but a partition of {ps} with {pad[r]} padding saves {saved}");
                valid[r] = Math.Clamp(orig - r * ps, 0, ps);
            }
            if (checked(ps * world) - orig != pad[^1] || pad[..^1].Any(p => p != 0))
                throw new CheckpointFormatException(optims[^1].Path, null, $"group {g}: {world} partitions of {ps} hold {ps * world} elements; the params need {orig} and group_paddings document {pad.Sum()}");
        }
        else if (kind == ZeroKind.Stage12)
        {
            // ZeRO-1/2 saves the lean view: partition size = saved numel + padding cut off, equal on every rank.
            long ps = tensors[0].ElementCount + pad[0];
            for (int r = 0; r < world; r++)
            {
                if (tensors[r].ElementCount + pad[r] != ps)
                    throw new CheckpointFormatException(optims[r].Path, null, $"group {g}: partition of {tensors[r].ElementCount} elements + {pad[r]} padding differs from rank 0's {ps}");
                valid[r] = tensors[r].ElementCount;
            }
        }
        else
        {
            // BF16_Optimizer saves the full padded partition and reports the group's whole padding on the last rank.
            long ps = tensors[0].ElementCount;
            long totalPad = pad.Sum();
            for (int r = 0; r < world; r++)
            {
                if (tensors[r].ElementCount != ps)
                    throw new CheckpointFormatException(optims[r].Path, null, $"group {g}: partition has {tensors[r].ElementCount} elements but rank 0's has {ps}");
                valid[r] = Math.Clamp(orig - r * ps, 0, ps);
            }
            if (checked(ps * world) - orig != totalPad)
                throw new CheckpointFormatException(optims[^1].Path, null, $"group {g}: {world} partitions of {ps} hold {ps * world} elements; the params need {orig} and group_paddings document {totalPad}");
        }
        long stored = valid.Sum();
        if (stored != orig)
            throw new CheckpointFormatException(optims[0].Path, null, $"group {g}: param_shapes need {orig} elements but the {world} partitions hold {stored} (after the documented padding); the checkpoint's files do not belong together");
    }

    private void ReadMoments12(int g, List<(string Name, long[] Shape)> ps, long[] valid, TorchArchive[] optims, PyDict[] osds)
    {
        int world = optims.Length;
        var avg = new RankRuns();
        var sq = new RankRuns();
        PyValue? step = null;
        for (int r = 0; r < world; r++)
        {
            string f = optims[r].Path;
            PyValue bosValue = Key(osds[r], "base_optimizer_state", f, "optimizer_state_dict");
            if (bosValue is PyList)
                throw new UnsupportedCheckpointException(f, "optimizer state saved with elastic_checkpoint=true (a list per group) is not supported for --with-optimizer-states");
            PyDict bos = Dict(bosValue, f, "base_optimizer_state");
            PyDict? entry = StateEntry(bos, g, f);
            if (entry is null)
            {
                if (r == 0) { SetStepAttribute(PyNone.Instance); return; }
                throw new CheckpointFormatException(f, null, $"group {g} has no optimizer state but rank 0's file has");
            }
            PyTensor ea = Tensor(Key(entry, "exp_avg", f, $"state[{g}]"), f, $"state[{g}]['exp_avg']");
            PyTensor es = Tensor(Key(entry, "exp_avg_sq", f, $"state[{g}]"), f, $"state[{g}]['exp_avg_sq']");
            if (ea.ElementCount < valid[r] || es.ElementCount < valid[r])
                throw new CheckpointFormatException(f, null, $"group {g}: Adam moments have {ea.ElementCount}/{es.ElementCount} elements, fewer than the partition's {valid[r]}");
            avg.Add(Path.GetFileName(f), StartOf(optims[r], ea), valid[r], ea.DType);
            sq.Add(Path.GetFileName(f), StartOf(optims[r], es), valid[r], es.DType);
            if (r == 0) step = entry.Get("step");
        }
        AddMoments(ps.Select(p => (p.Name, p.Shape, Offset: 0L)).ToList(), [avg], [sq], step, optims[0], perRankParamStarts: null);
    }

    private static PyDict? StateEntry(PyDict optimizerState, long paramId, string file)
    {
        PyDict state = Dict(Key(optimizerState, "state", file, "optimizer state"), file, "state");
        return IntKey(state, paramId) is PyValue v ? Dict(v, file, $"state[{paramId}]") : null;
    }

    private void ReadFrozen12(PyDict modelRoot, TorchArchive model0)
    {
        string f = model0.Path;
        PyDict? module = Optional(modelRoot, "module") as PyDict;
        PyDict? fragments = Optional(modelRoot, "frozen_param_fragments") as PyDict;
        var names = new List<(string Name, long[] Shape)>();
        if (Optional(modelRoot, "frozen_param_shapes") is PyDict fps)
        {
            names.AddRange(Named(fps, f, "frozen_param_shapes").Select(x => (x.Name, Shape(x.Value, f, $"frozen_param_shapes['{x.Name}']"))));
        }
        else if (module is not null)
        {
            // Stage 1 records no frozen params; they are the module entries that are neither trained, buffers nor aliases.
            var skip = new HashSet<string>(_tensors.Keys, StringComparer.Ordinal);
            skip.UnionWith(BufferNames(modelRoot, f));
            if (Optional(modelRoot, "shared_params") is PyDict sp) skip.UnionWith(Named(sp, f, "shared_params").Select(x => x.Name));
            foreach (var (name, v) in Named(module, f, "module"))
            {
                if (!skip.Contains(name) && v is PyTensor t) names.Add((name, t.Shape.ToArray()));
            }
        }
        foreach (var (name, shape) in names)
        {
            PyValue? v = fragments?.Get(name) ?? module?.Get(name);
            PyTensor t = Tensor(v ?? throw new CheckpointFormatException(f, null, $"frozen parameter '{name}' is in neither frozen_param_fragments nor module", name), f, $"frozen parameter '{name}'");
            long n = DTypes.ElementCount(shape);
            if (t.ElementCount != n)
                throw new CheckpointFormatException(f, null, $"frozen parameter has {t.ElementCount} elements but its shape needs {n}", name);
            AddTensor(new SourceTensor(name, t.DType, shape, [new SourcePiece(0, n, Path.GetFileName(f), StartOf(model0, t), t.DType)]), f);
        }
    }

    // ---- ZeRO-3 ----

    private void ReadStage3(PyDict modelRoot, TorchArchive[] models, TorchArchive[] optims, PyDict[] osds)
    {
        int world = optims.Length;
        string m0 = models[0].Path;
        var ps = new List<(string Name, long[] Shape)>();
        foreach (PyValue g in List(Key(modelRoot, "param_shapes", m0, "model-state file"), m0, "param_shapes"))
            ps.AddRange(Named(Dict(g, m0, "param_shapes[i]"), m0, "param_shapes").Select(x => (x.Name, Shape(x.Value, m0, $"param_shapes['{x.Name}']"))));
        long perRank = ps.Sum(p => (DTypes.ElementCount(p.Shape) + world - 1) / world);
        var flats = new RankRuns[world];
        DType stored = DType.F32;
        for (int r = 0; r < world; r++)
        {
            string f = optims[r].Path;
            flats[r] = new RankRuns();
            int i = 0;
            foreach (PyValue v in List(Key(osds[r], "fp32_flat_groups", f, "optimizer_state_dict"), f, "fp32_flat_groups"))
            {
                PyTensor t = Tensor(v, f, $"fp32_flat_groups[{i++}]");
                flats[r].Add(Path.GetFileName(f), StartOf(optims[r], t), t.ElementCount, t.DType);
                stored = t.DType;
            }
            // Each param takes ceil(n / dp) elements per rank (its padding included); a leftover means a misread: error.
            if (flats[r].Total != perRank)
                throw new CheckpointFormatException(f, null, $"fp32_flat_groups hold {flats[r].Total} elements but param_shapes in {m0} need {perRank} per rank (each param padded to a multiple of {world}); the files do not belong together");
        }
        long off = 0;
        var layout = new List<(string Name, long[] Shape, long Offset)>();
        foreach (var (name, shape) in ps)
        {
            long n = DTypes.ElementCount(shape);
            long pn = (n + world - 1) / world;
            var pieces = new List<SourcePiece>();
            for (int r = 0; r < world; r++)
            {
                long start = Math.Min(n, r * pn), count = Math.Max(0, Math.Min(n, (r + 1) * pn) - start);
                flats[r].Map(off, count, start, pieces);
            }
            AddTensor(new SourceTensor(name, stored, shape, pieces), m0);
            _trainableOrder.Add(name);
            layout.Add((name, shape, off));
            off += pn;
        }
        if (_withOptimizer) ReadMoments3(layout, perRank, optims, osds);
        ReadFrozen3(modelRoot, models);
    }

    private void ReadMoments3(List<(string Name, long[] Shape, long Offset)> layout, long perRank, TorchArchive[] optims, PyDict[] osds)
    {
        int world = optims.Length;
        var avg = new RankRuns[world];
        var sq = new RankRuns[world];
        PyValue? step = null;
        for (int r = 0; r < world; r++)
        {
            string f = optims[r].Path;
            PyDict inner = Dict(Key(osds[r], "optimizer_state_dict", f, "optimizer_state_dict"), f, "inner optimizer_state_dict");
            var ids = List(Key(inner, "param_groups", f, "inner optimizer_state_dict"), f, "param_groups")
                .SelectMany(pg => List(Key(Dict(pg, f, "param group"), "params", f, "param group"), f, "params")).Select(x => Int(x, f, "param id")).ToList();
            avg[r] = new RankRuns();
            sq[r] = new RankRuns();
            foreach (long id in ids)
            {
                PyDict? entry = StateEntry(inner, id, f);
                if (entry is null)
                {
                    if (r == 0 && id == ids[0]) { SetStepAttribute(PyNone.Instance); return; }
                    throw new CheckpointFormatException(f, null, $"sub-group {id} has no optimizer state but others have");
                }
                PyTensor ea = Tensor(Key(entry, "exp_avg", f, $"state[{id}]"), f, $"state[{id}]['exp_avg']");
                PyTensor es = Tensor(Key(entry, "exp_avg_sq", f, $"state[{id}]"), f, $"state[{id}]['exp_avg_sq']");
                avg[r].Add(Path.GetFileName(f), StartOf(optims[r], ea), ea.ElementCount, ea.DType);
                sq[r].Add(Path.GetFileName(f), StartOf(optims[r], es), es.ElementCount, es.DType);
                if (r == 0 && id == ids[0]) step = entry.Get("step");
            }
            if (avg[r].Total != perRank || sq[r].Total != perRank)
                throw new CheckpointFormatException(f, null, $"Adam moments hold {avg[r].Total}/{sq[r].Total} elements but the rank's fp32 partitions hold {perRank}");
        }
        AddMoments(layout, avg, sq, step, optims[0], perRankParamStarts: world);
    }

    private void ReadFrozen3(PyDict modelRoot, TorchArchive[] models)
    {
        int world = models.Length;
        string m0 = models[0].Path;
        if (Optional(modelRoot, "frozen_param_shapes") is not PyDict fps) return;
        foreach (var (name, sv) in Named(fps, m0, "frozen_param_shapes"))
        {
            long[] shape = Shape(sv, m0, $"frozen_param_shapes['{name}']");
            long n = DTypes.ElementCount(shape);
            long pn = (n + world - 1) / world;
            var pieces = new List<SourcePiece>();
            DType dtype = DType.F32;
            for (int r = 0; r < world; r++)
            {
                string f = models[r].Path;
                PyDict root = Dict(models[r].Root, f, "model-state file");
                PyDict frags = Dict(Key(root, "frozen_param_fragments", f, "model-state file"), f, "frozen_param_fragments");
                PyTensor t = Tensor(frags.Get(name) ?? throw new CheckpointFormatException(f, null, "frozen parameter has no fragment in this rank's file", name), f, $"frozen_param_fragments['{name}']");
                if (t.ElementCount != pn)
                    throw new CheckpointFormatException(f, null, $"frozen fragment has {t.ElementCount} elements; a {n}-element param over {world} ranks needs {pn}", name);
                long start = Math.Min(n, r * pn), count = Math.Max(0, Math.Min(n, (r + 1) * pn) - start);
                if (count > 0) pieces.Add(new SourcePiece(start, count, Path.GetFileName(f), StartOf(models[r], t), t.DType));
                dtype = t.DType;
            }
            AddTensor(new SourceTensor(name, dtype, shape, pieces), m0);
        }
    }

    // ---- shared ----

    private static long StartOf(TorchArchive a, PyTensor t) => checked(a.RangeOf(t.Storage).Start + t.StorageOffset * t.DType.SizeInBytes());

    private void AddTensor(SourceTensor t, string file)
    {
        if (!_tensors.TryAdd(t.Name, t)) throw new CheckpointFormatException(file, null, "parameter appears twice in the checkpoint's metadata", t.Name);
    }

    private void SetStepAttribute(PyValue step)
    {
        string s = step switch
        {
            PyInt i => i.Value.ToString(CultureInfo.InvariantCulture),
            PyFloat x => x.Value.ToString("R", CultureInfo.InvariantCulture),
            _ => "0",
        };
        _step = s;
    }

    /// <summary>
    /// Adds {name}.exp_avg / .exp_avg_sq (and .step for a tensor step). ZeRO-1/2: one flat run list over all ranks
    /// (params back to back). ZeRO-3 (<paramref name="perRankParamStarts"/> = dp): per-rank runs, each param taking
    /// ceil(n / dp) elements at its offset.
    /// </summary>
    private void AddMoments(List<(string Name, long[] Shape, long Offset)> layout, RankRuns[] avg, RankRuns[] sq, PyValue? step, TorchArchive optim0, int? perRankParamStarts)
    {
        long off = 0;
        foreach (var (name, shape, offset) in layout)
        {
            long n = DTypes.ElementCount(shape);
            var pa = new List<SourcePiece>();
            var pq = new List<SourcePiece>();
            if (perRankParamStarts is int world)
            {
                long pn = (n + world - 1) / world;
                for (int r = 0; r < world; r++)
                {
                    long start = Math.Min(n, r * pn), count = Math.Max(0, Math.Min(n, (r + 1) * pn) - start);
                    avg[r].Map(offset, count, start, pa);
                    sq[r].Map(offset, count, start, pq);
                }
            }
            else
            {
                avg[0].Map(off, n, 0, pa);
                sq[0].Map(off, n, 0, pq);
                off += n;
            }
            _optimizerTensors.Add(new SourceTensor(name + ZeroCheckpoint.ExpAvgSuffix, pa.Count > 0 ? pa[0].StoredDType : DType.F32, shape, pa));
            _optimizerTensors.Add(new SourceTensor(name + ZeroCheckpoint.ExpAvgSqSuffix, pq.Count > 0 ? pq[0].StoredDType : DType.F32, shape, pq));
            if (step is PyTensor st)
            {
                if (st.ElementCount != 1) throw new CheckpointFormatException(optim0.Path, null, $"optimizer step tensor has {st.ElementCount} elements, expected 1");
                _optimizerTensors.Add(new SourceTensor(name + ZeroCheckpoint.StepSuffix, st.DType, [], [new SourcePiece(0, 1, Path.GetFileName(optim0.Path), StartOf(optim0, st), st.DType)]));
            }
        }
        // A tensor step (torch Adam) is exposed as {name}.step; an int step (FusedAdam) as the attribute.
        if (step is not PyTensor) SetStepAttribute(step ?? PyNone.Instance);
    }
}
