using System.Globalization;
using System.Text;
using Ckptmpi.Formats.DeepSpeed;
using Ckptmpi.Formats.Torch;
using Ckptmpi.Formats.Torch.Pickle;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;
using static Ckptmpi.Formats.DeepSpeed.ZeroPy;

namespace Ckptmpi.Formats.MegaDs;

// Key sets, orders and types as argonne-lcf/Megatron-DeepSpeed with DeepSpeed 0.14.4 saves them (the step-0 fixtures in
// tests/fixtures/megads; docs/formats/megads.md).

/// <summary>
/// Every file of the Megatron-DeepSpeed checkpoint saved at the target iteration, from metadata alone: the layer
/// files per pipeline layer and tensor rank (bf16 weights), Megatron's model-state file per model-parallel rank, the
/// optimizer partitions (BF16_Optimizer's or DeepSpeed's ZeRO-1 optimizer's) per (model-parallel rank, data rank) with
/// the fp32 masters and the Adam state (empty, or a trained source's: <see cref="MegaDsResume"/>), and
/// the markers at the save root ('latest' last, as the commit marker).
/// </summary>
internal sealed class MegaDsFiles(MegaDsTarget target, MegatronArgs args, string tag, bool meanPadding, bool bf16Optimizer, MegaDsResume? resume = null)
{
    private const string DsVersion = "0.14.4";
    private MegaDsModel M => target.Model;

    /// <summary>A torch.save file's storages in pickling order, each with the segments that fill it from its data offset.</summary>
    private sealed class Storages
    {
        private readonly List<Func<long, List<OutputSegment>>> _fills = new();

        public TorchStorage Add(DType dtype, long elements, Func<long, List<OutputSegment>> fill)
        {
            var s = new TorchStorage(_fills.Count.ToString(CultureInfo.InvariantCulture), dtype, elements);
            _fills.Add(fill);
            return s;
        }

        public TorchStorage Literal(DType dtype, long elements, byte[] bytes) => Add(dtype, elements, at => [new LiteralSegment(at, bytes)]);

        public OutputFile Lay(string relativePath, PyValue root)
        {
            TorchArchivePlan plan = TorchArchiveLayout.Plan(root, TorchArchiveLayout.ArchiveNameFor(Path.GetFileName(relativePath)));
            return plan.ToOutputFile(relativePath, (storage, range) =>
            {
                List<OutputSegment> segs = _fills[int.Parse(storage.Key, CultureInfo.InvariantCulture)](range.Start);
                long end = segs.Count == 0 ? range.Start : segs[^1].End;
                if (end != range.End) throw new InvalidOperationException($"{relativePath}: storage {storage.Key} filled to {end}, not {range.End}");
                return segs;
            });
        }
    }

    private static List<OutputSegment> Shard(List<ShardRun> runs, long start, long count, DType dtype, long at)
    {
        var segs = new List<OutputSegment>();
        ShardSplit.Emit(runs, start, count, dtype, DType.BF16, at, segs);
        return segs;
    }

    private string InTag(string file) => DeepSpeedPaths.InTag(tag, file);

    /// <summary>Every file, the save root's markers last ('latest' the very last).</summary>
    public List<OutputFile> All(bool optimizerFiles)
    {
        var files = new List<OutputFile>();
        foreach (int layer in M.LayerFiles)
            for (int t = 0; t < M.Tp; t++) files.Add(LayerFile(layer, t));
        for (int stage = 0; stage < M.Pp; stage++)
        {
            for (int t = 0; t < M.Tp; t++)
            {
                files.Add(ModelStates(stage, t));
                if (!optimizerFiles) continue;
                for (int d = 0; d < M.Dp; d++) files.Add(OptimStates(stage, t, d));
            }
        }
        string iteration = M.Iteration.ToString(CultureInfo.InvariantCulture);
        files.Add(Text(MegaDsPaths.LatestIteration, iteration));
        // ALCF's Megatron-DeepSpeed reads this at load time and takes its lr over args.lr (yaml.dump of {iteration, lr}).
        string lr = MegatronArgs.PyRepr(args.CurrentLr());
        if (!lr.Contains('.', StringComparison.Ordinal) && lr.Contains('e', StringComparison.Ordinal)) lr = lr.Replace("e", ".0e", StringComparison.Ordinal);
        files.Add(Text(MegaDsPaths.LrStateYaml, $"iteration: {iteration}\nlr: {lr}\n"));
        files.Add(Text(DeepSpeedPaths.Latest, tag) with { IsCommitMarker = true });
        return files;
    }

    private static OutputFile Text(string path, string text)
    {
        byte[] b = Encoding.ASCII.GetBytes(text);
        return new OutputFile(path, b.Length, [new LiteralSegment(0, b)], []);
    }

    private OutputFile LayerFile(int layer, int t)
    {
        var storages = new Storages();
        var root = new PyDict(isOrdered: true);
        foreach (var (local, shape) in MegaDsLayout.Params(M, layer))
        {
            List<ShardRun> runs = ShardSplit.Runs(M, layer, local, t, meanPadding);
            long n = DTypes.ElementCount(shape);
            root.Add(local, Tensor(storages.Add(DType.BF16, n, at => Shard(runs, 0, n, DType.BF16, at)), 0, shape, false));
        }
        return storages.Lay(InTag(MegaDsPaths.LayerFile(layer, t)), root);
    }

    /// <summary>The stage's optimizer param groups as Megatron builds them: weight decay (matrices), then no decay (norms); empty ones dropped.</summary>
    private List<(string Name, double WdMult, List<EngineParam> Params)> Groups(int stage)
    {
        var ps = target.StageParams(stage);
        var groups = new List<(string, double, List<EngineParam>)>
        {
            ("wd_no_scale_lr", 1.0, ps.Where(p => p.Decays).ToList()),
            ("no_wd_no_scale_lr", 0.0, ps.Where(p => !p.Decays).ToList()),
        };
        return groups.Where(g => g.Item3.Count > 0).ToList();
    }

    private OutputFile ModelStates(int stage, int t)
    {
        var storages = new Storages();
        long gbs = args.GlobalBatch, iteration = M.Iteration;
        var shapes = new PyList();
        foreach (var (_, _, ps) in Groups(stage))
        {
            var d = new PyDict(isOrdered: true);
            foreach (EngineParam p in ps) d.Add(p.Name, Size(p.Shape));
            shapes.Items.Add(d);
        }
        var root = new PyDict();
        root.Add("module", PyNone.Instance);
        root.Add("buffer_names", new PyList());
        root.Add("optimizer", PyNone.Instance);
        root.Add("param_shapes", shapes);
        root.Add("frozen_param_shapes", PyNone.Instance);
        root.Add("shared_params", new PyDict());
        root.Add("frozen_param_fragments", PyNone.Instance);
        root.Add("lr_scheduler", args.LrScheduler());
        root.Add("data_sampler", PyNone.Instance);
        root.Add("random_ltd", PyNone.Instance);
        root.Add("sparse_tensor_module_names", EmptySet());
        root.Add("skipped_steps", I(0));
        root.Add("global_steps", I(iteration));
        root.Add("global_samples", I(iteration * gbs));
        root.Add("dp_world_size", I(M.Dp));
        root.Add("mp_world_size", I((long)M.Tp * M.Pp));
        root.Add("ds_config", args.DsConfig);
        root.Add("ds_version", S(DsVersion));
        // The model-state file of a model-parallel rank is saved by its data rank 0: global rank pp * (dp * tp) + tp_rank
        // in DeepSpeed's pipe-data-model topology.
        int rank = checked(stage * M.Dp * M.Tp + t);
        root.Add("args", args.Namespace(rank, (dtype, n, bytes) => new TorchStorageRef(storages.Literal(dtype, n, bytes))));
        root.Add("checkpoint_version", F(3.0));
        root.Add("iteration", I(iteration));
        root.Add("tokens", I(iteration * gbs * args.SeqLength));
        root.Add("universal_checkpoint_info", UniversalInfo());
        return storages.Lay(InTag(DeepSpeedPaths.ModelStates(stage * M.Tp + t)), root);
    }

    /// <summary>GPTModelPipe.universal_checkpoint_info(): what ds_to_universal needs to merge and re-split the parameters.</summary>
    private PyDict UniversalInfo()
    {
        static PyList Strings(params string[] s) => new(s.Select(x => (PyValue)new PyString(x)).ToList());
        var d = new PyDict();
        d.Add("universal_checkpoint_version", F(0.2));
        d.Add("original_vocab_size", I(M.Vocab));
        d.Add("padded_vocab_size", I(M.PaddedVocab));
        d.Add("vocabulary_parameter_patterns", M.Tied ? Strings(MegaDsLayout.TiedEmbedding) : Strings(@"\d+.word_embeddings.weight", @"\d+.lm_head.weight"));
        d.Add("pipeline_replicated_parameter_patterns", M.Tied ? Strings(MegaDsLayout.TiedEmbedding) : Strings());
        if (M.Tp > 1)
        {
            d.Add("tp_replicated_parameter_patterns", Strings(@"\d+.input_layernorm.weight", @"\d+.post_attention_layernorm.weight", @"\d+.weight"));
            d.Add("parameter_with_row_parallelism_patterns", Strings(@"\d+.mlp.dense_4h_to_h.weight", @"\d+.self_attention.dense.weight"));
        }
        d.Add("parameter_with_2_sub_params_cat_dim_0", Strings(@"\d+.mlp.dense_h_to_4h.weight"));
        return d;
    }

    /// <summary>
    /// The optimizer state of one (stage, tensor rank, data rank), of BF16_Optimizer or of DeepSpeed's ZeRO-1
    /// optimizer: per param group the data rank's partition of the flat fp32 masters (DeepSpeed's 2 x dp alignment,
    /// the padding at the end), where each param's fragment sits in it, and the wrapped torch Adam's state_dict with no
    /// moments yet.
    /// </summary>
    private OutputFile OptimStates(int stage, int t, int d)
    {
        var storages = new Storages();
        var groups = Groups(stage);
        var partitions = new PyList();
        var paddings = new PyList();
        var counts = new PyList();
        var mappings = new PyList();
        var paramGroups = new PyList();
        double lr = args.CurrentLr(), wd = args.CurrentWd();
        // Pickling order: the Adam state (inside base_optimizer_state) comes before the fp32 partitions.
        PyDict adam = resume is null ? new PyDict() : AdamState(storages, groups, t, d);
        for (int g = 0; g < groups.Count; g++)
        {
            var (name, wdMult, ps) = groups[g];
            var flat = FlatGroupPartitioning.For(ps.Select(p => p.ElementCount).ToList(), M.Dp);
            var fragments = flat.Fragments(d);
            var map = new PyDict(isOrdered: true);
            foreach (PartitionFragment f in fragments) map.Add(ps[f.ParamIndex].Name, FragmentAddress(f.Count, f.PartitionOffset));
            long pad = flat.Padding(d);
            TorchStorage s = storages.Add(DType.F32, flat.PartitionSize, at => Partition(ps, fragments, pad, t, "", at));
            // BF16_Optimizer saves the whole padded partition; DeepSpeed's ZeRO-1 optimizer the lean view of it (padding cut off).
            partitions.Items.Add(Tensor(s, 0, [bf16Optimizer ? flat.PartitionSize : flat.ValidElements(d)], requiresGrad: true));
            paddings.Items.Add(I(bf16Optimizer ? flat.Bf16OptimizerPadding(d) : pad));
            counts.Items.Add(I(M.Dp));
            mappings.Items.Add(map);
            paramGroups.Items.Add(ParamGroup(name, wdMult, lr, wd, g));
        }
        var baseState = new PyDict();
        baseState.Add("state", adam);
        baseState.Add("param_groups", paramGroups);
        var osd = new PyDict();
        if (!bf16Optimizer)
        {
            // DeepSpeedZeroOptimizer (stage_1_and_2.py): the loss scaler of bf16 (static, scale 1) first.
            osd.Add("loss_scaler", LossScaler(new ZeroWriteOptions { Stage = 1, DpSize = M.Dp, DType = DType.BF16 }));
            osd.Add("dynamic_loss_scale", PyBool.False);
            osd.Add("overflow", PyBool.False);
        }
        osd.Add("clip_grad", F(args.DsConfig.Get("gradient_clipping") switch { PyFloat x => x.Value, PyInt i => (double)i.Value, _ => 0.0 }));
        osd.Add("base_optimizer_state", baseState);
        osd.Add("single_partition_of_fp32_groups", partitions);
        if (!bf16Optimizer) osd.Add("zero_stage", ZeroStage(1));
        osd.Add("group_paddings", paddings);
        osd.Add("partition_count", counts);
        osd.Add("ds_version", S(DsVersion));
        osd.Add("param_slice_mappings", mappings);
        var root = new PyDict();
        root.Add("optimizer_state_dict", osd);
        root.Add("ds_config", args.DsConfig);
        root.Add("ds_version", S(DsVersion));
        return storages.Lay(InTag(DeepSpeedPaths.OptimStates(d, bf16: true, stage * M.Tp + t)), root);
    }

    /// <summary>
    /// Data rank <paramref name="d"/>'s part of a param group's flat buffer on tensor rank <paramref name="t"/>: each
    /// fragment's elements of the HF tensors named with <paramref name="suffix"/> ("" the fp32 masters, or a moment),
    /// then the group's zero padding.
    /// </summary>
    private List<OutputSegment> Partition(List<EngineParam> ps, IReadOnlyList<PartitionFragment> fragments, long pad, int t, string suffix, long at)
    {
        var segs = new List<OutputSegment>();
        foreach (PartitionFragment f in fragments)
        {
            EngineParam p = ps[f.ParamIndex];
            List<ShardRun> runs = ShardSplit.Runs(M, p.Layer, p.Local, t, meanPadding);
            if (suffix.Length > 0) runs = ShardSplit.Suffixed(runs, suffix);
            at = ShardSplit.Emit(runs, f.ParamOffset, f.Count, DType.F32, DType.BF16, at, segs);
        }
        if (pad > 0) segs.Add(new ZeroSegment(at, pad * sizeof(float)));
        return segs;
    }

    /// <summary>The HF tensors whose step each param group of <paramref name="stage"/> copies: the group's first parameter's.</summary>
    public IEnumerable<string> StepSources(int stage) => Groups(stage).Select(g => ShardSplit.FirstTensor(M, g.Params[0].Layer, g.Params[0].Local));

    /// <summary>
    /// The wrapped torch Adam's (or FusedAdam's) trained <c>state</c>, keyed by group index as its state_dict keys it: per
    /// group <c>step</c> (torch Adam: a 0-dim fp32 tensor, the source's step of the group's first parameter, or its
    /// step number; FusedAdam: the int), then <c>exp_avg</c> and <c>exp_avg_sq</c> over the data rank's whole padded
    /// partition (both optimizers step the padded flat partition; its padding's gradients are zero, so it stays zero).
    /// </summary>
    private PyDict AdamState(Storages storages, List<(string Name, double WdMult, List<EngineParam> Params)> groups, int t, int d)
    {
        MegaDsResume r = resume!;
        var state = new PyDict();
        for (int g = 0; g < groups.Count; g++)
        {
            List<EngineParam> ps = groups[g].Params;
            var flat = FlatGroupPartitioning.For(ps.Select(p => p.ElementCount).ToList(), M.Dp);
            var fragments = flat.Fragments(d);
            long pad = flat.Padding(d);
            var s = new PyDict();
            if (r.Fused) s.Add("step", I(r.StepNumber!.Value));
            else if (r.StepNumber is long n) s.Add("step", Tensor(storages.Literal(DType.F32, 1, Fp32(n)), 0, [], false));
            else
            {
                string from = ShardSplit.FirstTensor(M, ps[0].Layer, ps[0].Local) + ZeroCheckpoint.StepSuffix;
                s.Add("step", Tensor(storages.Add(DType.F32, 1, at => [new TensorSegment(at, from, 0, 1, DType.F32)]), 0, [], false));
            }
            foreach (string suffix in new[] { ZeroCheckpoint.ExpAvgSuffix, ZeroCheckpoint.ExpAvgSqSuffix })
            {
                TorchStorage m = storages.Add(DType.F32, flat.PartitionSize, at => Partition(ps, fragments, pad, t, suffix, at));
                s.Add(suffix[1..], Tensor(m, 0, [flat.PartitionSize], false));
            }
            state.Items.Add(new(I(g), s));
        }
        return state;
    }

    private static byte[] Fp32(float v)
    {
        var b = new byte[sizeof(float)];
        System.Buffers.Binary.BinaryPrimitives.WriteSingleLittleEndian(b, v);
        return b;
    }

    /// <summary>
    /// One param group of the wrapped optimizer's state_dict: Megatron's keys (name, wd_mult, lr_mult), then the
    /// optimizer's defaults with the scheduler's lr and weight decay, params last. Megatron's 'adam' is torch's Adam
    /// ('adamw' torch's AdamW; the same torch 1.13 keys) unless ds_fused_adam selects DeepSpeed's FusedAdam.
    /// </summary>
    private PyDict ParamGroup(string name, double wdMult, double lr, double wd, int index)
    {
        var g = new PyDict();
        g.Add("name", S(name));
        g.Add("wd_mult", F(wdMult));
        g.Add("lr_mult", F(1.0));
        g.Add("lr", F(lr));
        bool fused = args.Flag("ds_fused_adam");
        if (fused) g.Add("bias_correction", PyBool.True);
        g.Add("betas", new PyTuple(F(args.Real("adam_beta1", 0.9)), F(args.Real("adam_beta2", 0.999))));
        g.Add("eps", F(args.Real("adam_eps", 1e-8)));
        g.Add("weight_decay", F(wd * wdMult));
        if (!fused)
        {
            g.Add("amsgrad", PyBool.False);
            g.Add("maximize", PyBool.False);
            g.Add("foreach", PyNone.Instance);
            g.Add("capturable", PyBool.False);
            g.Add("differentiable", PyBool.False);
            g.Add("fused", PyBool.False);
        }
        // FusedAdam's first step() adds the group's 'step' (0; the count lives in each param's state), after the other keys.
        if (fused && resume is not null) g.Add("step", I(0));
        g.Add("params", new PyList([I(index)]));
        return g;
    }
}
