using System.Globalization;
using Ckptmpi.Errors;
using Ckptmpi.Formats.Torch;
using Ckptmpi.Formats.Torch.Pickle;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;
using static Ckptmpi.Formats.DeepSpeed.PyRead;

namespace Ckptmpi.Formats.DeepSpeed;

// Which rank files exist, the optimizer dicts, and the consistency checks DeepSpeed's own loader makes: docs/formats/deepspeed-zero.md.

/// <summary>The state of one read: the opened rank files and the tensors found so far.</summary>
internal sealed partial class ZeroCheckpointReader
{
    private readonly string _tag;
    private readonly string _dir;
    private readonly bool _withOptimizer;
    // A pipeline/tensor-parallel tag folder (Megatron-DeepSpeed) holds one set of files per model-parallel rank; this
    // reader then reads the set of _mpRank only and leaves the layer files and the other ranks' files alone.
    private readonly int _mpRank;
    private readonly bool _modelParallel;
    private readonly Dictionary<string, SourceTensor> _tensors = new(StringComparer.Ordinal);
    private readonly List<string> _trainableOrder = new();
    private ZeroCheckpointInfo? _info;
    private string? _step;
    private readonly List<SourceTensor> _optimizerTensors = new();

    public ZeroCheckpointReader(string tag, string dir, bool withOptimizer, int? mpRank = null)
    {
        _tag = tag;
        _dir = dir;
        _withOptimizer = withOptimizer;
        _mpRank = mpRank ?? 0;
        _modelParallel = mpRank is not null;
    }

    private TorchArchive OpenFile(string name)
    {
        string path = Path.Combine(_dir, name);
        if (!File.Exists(path)) throw new CheckpointFormatException(path, null, "rank file is missing (the checkpoint's metadata says it should exist)");
        return TorchArchive.Open(path);
    }

    /// <summary>The engine counters a resumed run continues from (its lr schedule and logging read them).</summary>
    internal static readonly string[] EngineCounters = ["global_steps", "global_samples", "skipped_steps"];

    public ZeroSource Read()
    {
        string[] present = Directory.GetFiles(_dir).Select(f => Path.GetFileName(f)!).ToArray();
        if (!_modelParallel) RejectUnsupportedLayouts(present);
        bool zero3Files = present.Contains(DeepSpeedPaths.Zero3ModelStates(0, _mpRank));
        string modelName = zero3Files ? DeepSpeedPaths.Zero3ModelStates(0, _mpRank) : DeepSpeedPaths.ModelStates(_mpRank);
        if (!zero3Files && !present.Contains(modelName))
            throw new CheckpointFormatException(_dir, null, $"no model-state file ({DeepSpeedPaths.ModelStates(_mpRank)} or {DeepSpeedPaths.Zero3ModelStates(0, _mpRank)}); not a DeepSpeed checkpoint tag folder");
        TorchArchive model0 = OpenFile(modelName);
        PyDict modelRoot = Dict(model0.Root, model0.Path, "model-state file");

        bool bf16Prefix = present.Contains(DeepSpeedPaths.OptimStates(0, bf16: true, _mpRank));
        bool plainPrefix = present.Contains(DeepSpeedPaths.OptimStates(0, bf16: false, _mpRank));
        if (bf16Prefix && plainPrefix)
            throw new CheckpointFormatException(_dir, null, $"both {DeepSpeedPaths.OptimStates(0, true, _mpRank)} and {DeepSpeedPaths.OptimStates(0, false, _mpRank)} exist; remove the files of the run that is not this checkpoint");
        if (!bf16Prefix && !plainPrefix)
            throw new CheckpointFormatException(_dir, null, $"no ZeRO optimizer-state file ({DeepSpeedPaths.OptimStates(0, true, _mpRank)} or {DeepSpeedPaths.OptimStates(0, false, _mpRank)}); a checkpoint saved without ZeRO has no fp32 partitions to read");
        TorchArchive optim0 = OpenFile(DeepSpeedPaths.OptimStates(0, bf16Prefix, _mpRank));
        PyDict osd0 = Dict(Key(Dict(optim0.Root, optim0.Path, "optimizer-state file"), "optimizer_state_dict", optim0.Path, "optimizer-state file"), optim0.Path, "optimizer_state_dict");

        ZeroKind kind = osd0.Get("fp32_flat_groups") is not null ? ZeroKind.Stage3
            : osd0.Get("single_partition_of_fp32_groups") is null
                ? throw new CheckpointFormatException(optim0.Path, null, "optimizer_state_dict has neither 'single_partition_of_fp32_groups' nor 'fp32_flat_groups'; not a ZeRO optimizer file")
                : osd0.Get("zero_stage") is null ? ZeroKind.Bf16Optimizer : ZeroKind.Stage12;
        int stage = kind switch
        {
            ZeroKind.Stage3 => 3,
            ZeroKind.Bf16Optimizer => 1,
            _ => ZeroStage(osd0.Get("zero_stage"), optim0.Path),
        };
        if ((kind == ZeroKind.Stage3) != zero3Files)
            throw new CheckpointFormatException(optim0.Path, null, $"optimizer file is ZeRO stage {stage} but the model-state file is {modelName}");
        int world = PartitionCount(osd0, optim0.Path);
        long dpWorld = Int(Key(modelRoot, "dp_world_size", model0.Path, "model-state file"), model0.Path, "dp_world_size");
        if (dpWorld != world)
            throw new CheckpointFormatException(model0.Path, null, $"dp_world_size is {dpWorld} but {optim0.Path} says partition_count {world}");
        RejectExtraRankFiles(present, world, zero3Files, bf16Prefix);

        var optims = new TorchArchive[world];
        var osds = new PyDict[world];
        optims[0] = optim0;
        osds[0] = osd0;
        for (int r = 1; r < world; r++)
        {
            optims[r] = OpenFile(DeepSpeedPaths.OptimStates(r, bf16Prefix, _mpRank));
            osds[r] = Dict(Key(Dict(optims[r].Root, optims[r].Path, "optimizer-state file"), "optimizer_state_dict", optims[r].Path, "optimizer-state file"), optims[r].Path, "optimizer_state_dict");
            int pc = PartitionCount(osds[r], optims[r].Path);
            if (pc != world) throw new CheckpointFormatException(optims[r].Path, null, $"partition_count is {pc} but rank 0's file says {world}");
            if (kind != ZeroKind.Bf16Optimizer && osds[r].Get("zero_stage") is PyValue zs && ZeroStage(zs, optims[r].Path) != stage)
                throw new CheckpointFormatException(optims[r].Path, null, $"zero_stage is {ZeroStage(zs, optims[r].Path)} but rank 0's file says {stage}");
        }

        PyDict? module = modelRoot.Get("module") as PyDict;
        _info = new ZeroCheckpointInfo
        {
            Stage = stage,
            DpSize = world,
            Optimizer = kind switch { ZeroKind.Stage3 => "DeepSpeedZeroOptimizer_Stage3", ZeroKind.Bf16Optimizer => "BF16_Optimizer", _ => "DeepSpeedZeroOptimizer" },
            Tag = _tag,
            Bf16 = bf16Prefix,
            DsVersion = (modelRoot.Get("ds_version") as PyString)?.Value,
            ModuleDType = module?.Items.FirstOrDefault().Value is PyTensor first ? first.DType : null,
            Counters = EngineCounters.Select(k => (k, v: modelRoot.Get(k))).Where(x => x.v is PyInt)
                .ToDictionary(x => x.k, x => Int(x.v!, model0.Path, x.k)),
        };

        if (kind == ZeroKind.Stage3)
        {
            var models = new TorchArchive[world];
            models[0] = model0;
            for (int r = 1; r < world; r++) models[r] = OpenFile(DeepSpeedPaths.Zero3ModelStates(r));
            ReadStage3(modelRoot, models, optims, osds);
        }
        else
        {
            ReadStage12(kind, modelRoot, model0, optims, osds);
        }
        ReadBuffersAndAliases(modelRoot, model0);
        SourceCatalog catalog = BuildCatalog(module);
        return new ZeroSource(catalog, _info! with { Step = _step, StateTensors = _optimizerTensors.Select(t => t.Name).ToArray() });
    }

    private void RejectUnsupportedLayouts(string[] present)
    {
        foreach (string f in present)
        {
            if (f.StartsWith("layer_", StringComparison.Ordinal) && f.EndsWith("-model_states.pt", StringComparison.Ordinal))
                throw new UnsupportedCheckpointException(Path.Combine(_dir, f), "pipeline-parallel checkpoints (layer files) are not supported yet");
            if (f.EndsWith("_model_states.pt", StringComparison.Ordinal) && !f.Contains("mp_rank_00_", StringComparison.Ordinal))
                throw new UnsupportedCheckpointException(Path.Combine(_dir, f), "model-parallel rank other than 00: tensor- or pipeline-parallel ZeRO checkpoints are not supported yet");
            if (f.StartsWith("expp_rank_", StringComparison.Ordinal))
                throw new UnsupportedCheckpointException(Path.Combine(_dir, f), "MoE expert-parallel checkpoints are not supported");
        }
    }

    private void RejectExtraRankFiles(string[] present, int world, bool zero3, bool bf16)
    {
        foreach (string f in present)
        {
            if (DeepSpeedPaths.TryParseOptimStates(f, out int dp, out int mp, out bool fileBf16) && !(_modelParallel && mp != _mpRank))
            {
                if (dp >= world || fileBf16 != bf16 || mp != _mpRank)
                    throw new CheckpointFormatException(Path.Combine(_dir, f), null, $"unexpected rank file: the checkpoint's metadata says {world} data-parallel ranks with {(bf16 ? "bf16_-prefixed" : "unprefixed")} optimizer files");
            }
            else if (!_modelParallel && f.StartsWith("zero_pp_rank_", StringComparison.Ordinal) && f.EndsWith("_model_states.pt", StringComparison.Ordinal))
            {
                bool expected = zero3 && Enumerable.Range(0, world).Any(r => DeepSpeedPaths.Zero3ModelStates(r) == f);
                if (!expected)
                    throw new CheckpointFormatException(Path.Combine(_dir, f), null, $"unexpected rank file: the checkpoint's metadata says {world} data-parallel ranks{(zero3 ? "" : " and ZeRO stage 1/2 (one mp_rank_00_model_states.pt)")}");
            }
        }
    }

    private static int PartitionCount(PyDict osd, string file)
    {
        PyValue pc = Key(osd, "partition_count", file, "optimizer_state_dict");
        if (pc is PyInt i) return checked((int)i.AsLong);
        long[] counts = List(pc, file, "partition_count").Select(x => Int(x, file, "partition_count")).ToArray();
        if (counts.Length == 0) throw new CheckpointFormatException(file, null, "partition_count is an empty list");
        if (counts.Distinct().Count() != 1)
            throw new UnsupportedCheckpointException(file, $"param groups with different partition counts ({string.Join(", ", counts)}; MoE) are not supported");
        return checked((int)counts[0]);
    }

    private enum ZeroKind { Stage12, Bf16Optimizer, Stage3 }
}
