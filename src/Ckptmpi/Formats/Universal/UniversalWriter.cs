using Ckptmpi.Errors;
using Ckptmpi.Formats.DeepSpeed;
using Ckptmpi.Formats.MegaDs;
using Ckptmpi.Formats.Torch;
using Ckptmpi.Formats.Torch.Pickle;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;
using Ckptmpi.Tensors.Views;

namespace Ckptmpi.Formats.Universal;

/// <summary>
/// Writes what DeepSpeed's <c>ds_to_universal</c> writes for a trained Megatron-DeepSpeed checkpoint: in the save
/// root, <c>{tag}_universal/zero/{param}/{fp32,exp_avg,exp_avg_sq,step}.pt</c> (each tensor merged over tensor
/// and data ranks, with the TP-merge markers), <c>zero/optimizer_state.pt</c>, copies of the
/// <c>mp_rank_XX_model_states.pt</c> files, and <c>latest_universal</c> (the commit marker). Every file is its own
/// output, so the planner spreads them over the ranks; tensors stream from the source's partitions. A plain ZeRO
/// run's checkpoint (<c>--from zero</c>) is laid out by <see cref="ZeroToUniversal"/>.
/// </summary>
internal sealed class UniversalWriter : IFormatWriter
{
    public string Description => "DeepSpeed universal checkpoint (per-parameter fp32/exp_avg/exp_avg_sq/step of a Megatron-DeepSpeed or plain ZeRO-1/2/3 run; ds_to_universal's layout)";

    // The writer checks it holds every source tensor itself: q, k and v (gate and up) share one step.pt, so the
    // steps of k, v and up are read by no segment and yet not lost.
    public bool ConsumesEverything => false;

    // A universal checkpoint is the optimizer state: a ZeRO source hands over its moments without being asked.
    public bool CarriesTrainingState => true;

    public IReadOnlyList<string> InputFiles(FormatOptions options) => [];

    public TargetLayout Layout(WriteInput input, FormatOptions options)
    {
        SourceFacts facts = input.Facts;
        if (input.DType is DType d && d != DType.F32)
            throw new FormatOptionException("--dtype", $"a universal checkpoint holds fp32 masters and moments; --dtype {d.ToString().ToLowerInvariant()} is not possible (drop --dtype)");
        if (facts.Format == ZeroFormat.FormatName) return ZeroToUniversal.Layout(input);
        if (facts.NativeFiles is not { } native || !native.ContainsKey(DeepSpeedPaths.ModelStates(0)))
            throw new UnsupportedCheckpointException(input.Catalog.Root, facts.Format == MegaDsFormat.FormatName
                ? "a universal checkpoint holds the Adam moments and the optimizer's settings: pass --with-optimizer-states (a checkpoint saved before the first step has no moments; ds_to_universal cannot convert it either)"
                : $"a universal checkpoint is made from a trained Megatron-DeepSpeed checkpoint (--from megads --with-optimizer-states); --from {facts.Format} does not carry Megatron's model states");
        var modelStates = new List<TorchArchive>();
        for (int mp = 0; native.TryGetValue(DeepSpeedPaths.ModelStates(mp), out byte[]? bytes); mp++)
            modelStates.Add(TorchArchive.Open(new MemoryByteSource(bytes, DeepSpeedPaths.ModelStates(mp))));
        MegaDsModel m = MegaDsModel.FromModelStates(modelStates[0]);
        string tag = facts.Training?.Tag ?? DeepSpeedPaths.DefaultTag(m.Iteration);
        string utag = UniversalPaths.TagFor(tag);
        DeepSpeedPaths.ValidateTag(utag);

        var files = new List<OutputFile>();
        var written = new HashSet<string>(StringComparer.Ordinal);
        foreach (EngineParam p in EngineParam.List(m, modelStates))
        {
            string stepSource = p.Hf[0] + ZeroCheckpoint.StepSuffix;
            if (input.Catalog.Contains(stepSource))
            {
                var storage = new TorchStorage("0", DType.F32, 1);
                TorchArchivePlan plan = TorchArchiveLayout.Plan(new PyTensor(storage, 0, [], []), UniversalPaths.Step);
                files.Add(plan.ToOutputFile(UniversalPaths.StateFile(utag, p.Name, UniversalPaths.Step), _ => (stepSource, 0)));
                written.UnionWith(p.Hf.Select(h => h + ZeroCheckpoint.StepSuffix));
            }
            foreach (string state in UniversalPaths.States)
            {
                string suffix = state == UniversalPaths.Fp32 ? "" : "." + state;
                foreach (string hf in p.Hf)
                {
                    if (!input.Catalog.Contains(hf + suffix))
                        throw new UnsupportedCheckpointException(input.Catalog.Root, $"the source has no '{hf + suffix}' for {p.Name}/{state}.pt; a universal checkpoint needs the fp32 masters and both Adam moments (--with-optimizer-states)");
                    written.Add(hf + suffix);
                }
                files.Add(StateFile(m, p, utag, state, suffix));
            }
        }
        string[] unwritten = input.Catalog.Tensors.Select(t => t.Name).Where(n => !written.Contains(n)).ToArray();
        if (unwritten.Length > 0)
            throw new UnsupportedCheckpointException(input.Catalog.Root, $"the source has tensors no parameter of the model states holds: {string.Join(", ", unwritten.Take(5))}");

        files.Add(OptimizerState(native, utag));
        foreach (TorchArchive ms in modelStates)
        {
            byte[] bytes = native[ms.Path];
            files.Add(new OutputFile($"{utag}/{ms.Path}", bytes.Length, [new LiteralSegment(0, bytes)], []));
        }
        byte[] marker = System.Text.Encoding.ASCII.GetBytes(utag);
        files.Add(new OutputFile(UniversalPaths.LatestUniversal, marker.Length, [new LiteralSegment(0, marker)], []) { IsCommitMarker = true });
        return new TargetLayout(new OutputLayout(files));
    }

    /// <summary>
    /// One state file: <c>{markers..., 'param': tensor}</c>. A vocabulary tensor keeps the padded storage
    /// ds_to_universal saves (it slices the merged tensor, and torch.save writes the whole storage); its padded rows
    /// are zeros here, which is what a universal load puts there.
    /// </summary>
    internal static OutputFile StateFile(MegaDsModel? m, EngineParam p, string utag, string state, string suffix)
    {
        var storage = new TorchStorage("0", DType.F32, p.MergedCount);
        // The fp32 masters are slices of DeepSpeed's flat fp32 partitions, which require grad; the moments do not.
        var tensor = new PyTensor(storage, 0, p.Stored, PyTensor.ContiguousStrides(p.Stored), RequiresGrad: state == UniversalPaths.Fp32);
        TorchArchivePlan plan = TorchArchiveLayout.Plan(p.Rule.Markers(tensor), state);
        return plan.ToOutputFile(UniversalPaths.StateFile(utag, p.Name, state), (_, range) => Fill(m, p, suffix, range.Start));
    }

    private static IEnumerable<OutputSegment> Fill(MegaDsModel? m, EngineParam p, string suffix, long at)
    {
        const int f32 = 4;
        if (p.IsQkv && m is not null)
        {
            int qPerKv = m.Heads / m.KvHeads;
            long row = (long)m.HeadDim * m.Hidden;
            ViewPart Part(string hf, int first, int count) => new(hf + suffix, [m.KvHeads, count, row], Box.Full([m.KvHeads, count, row]), [0, 1, 2],
                new Box([0, first, 0], [m.KvHeads, count, row]));
            yield return new ViewSegment(at, [m.KvHeads, qPerKv + 2, row], DType.F32, TensorOp.Copy,
                [Part(p.Hf[0], 0, qPerKv), Part(p.Hf[1], qPerKv, 1), Part(p.Hf[2], qPerKv + 1, 1)]);
            yield break;
        }
        long each = p.StoredCount / p.Hf.Length;
        foreach (string hf in p.Hf)
        {
            yield return new TensorSegment(at, hf + suffix, 0, each, DType.F32);
            at += each * f32;
        }
        long padding = p.MergedCount - p.StoredCount;
        if (padding > 0) yield return new ZeroSegment(at, padding * f32);
    }

    /// <summary>
    /// <c>zero/optimizer_state.pt</c>: the first optimizer file's state dict without its partitions
    /// (base_optimizer_state, single_partition_of_fp32_groups, param_slice_mappings) and with its group paddings
    /// zero, then the base optimizer's param_groups, as ds_to_universal builds it. A ZeRO-3 file's dict loses
    /// optimizer_state_dict and fp32_flat_groups and gains the file's ds_version instead.
    /// </summary>
    internal static OutputFile OptimizerState(IReadOnlyDictionary<string, byte[]> native, string utag)
    {
        const string name = MegaDsNativeFiles.OptimizerPickle;
        if (!native.TryGetValue(name, out byte[]? pickle)) throw new UnsupportedCheckpointException(name, "the source gave no optimizer pickle");
        var (root, _) = PickleReader.Read(pickle, name);
        PyDict osd = PyRead.Dict(PyRead.Key(PyRead.Dict(root, name, "optimizer file"), "optimizer_state_dict", name, "optimizer file"), name, "optimizer_state_dict");
        // ZeRO-3 keeps the base optimizer's state dict under 'optimizer_state_dict' and its partitions in 'fp32_flat_groups'.
        bool stage3 = osd.Get("fp32_flat_groups") is not null && osd.Get("base_optimizer_state") is null;
        string baseKey = stage3 ? "optimizer_state_dict" : "base_optimizer_state";
        PyDict baseState = PyRead.Dict(PyRead.Key(osd, baseKey, name, "optimizer_state_dict"), name, baseKey);
        string[] sharded = stage3 ? ["optimizer_state_dict", "fp32_flat_groups"] : ["base_optimizer_state", "param_slice_mappings", "single_partition_of_fp32_groups"];
        var output = new PyDict();
        foreach (var kv in osd.Items)
        {
            if (kv.Key is PyString s && sharded.Contains(s.Value)) continue;
            // ds_to_universal reads the rank's state with its paddings stripped and so records none (at dp 1 rank 0
            // is the last rank, which holds the group's padding).
            if (kv.Key is PyString { Value: "group_paddings" } && kv.Value is PyList paddings)
            {
                output.Add("group_paddings", new PyList(paddings.Items.Select(_ => (PyValue)new PyInt(0)).ToList()));
                continue;
            }
            output.Items.Add(kv);
        }
        // DeepSpeed's ZeRO-1/2 universal load requires ds_version in it; ZeRO-3 keeps it beside optimizer_state_dict.
        if (stage3 && output.Get("ds_version") is null && PyRead.Dict(root, name, "optimizer file").Get("ds_version") is PyValue version)
            output.Add("ds_version", version);
        output.Add("param_groups", PyRead.Key(baseState, "param_groups", name, baseKey));
        TorchArchivePlan plan = TorchArchiveLayout.Plan(output, Path.GetFileNameWithoutExtension(UniversalPaths.OptimizerState));
        return plan.ToOutputFile($"{utag}/{UniversalPaths.Zero}/{UniversalPaths.OptimizerState}", (_, _) => []);
    }
}
