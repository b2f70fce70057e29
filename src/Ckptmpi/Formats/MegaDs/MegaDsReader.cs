using Ckptmpi.Errors;
using Ckptmpi.Formats.DeepSpeed;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Formats.MegaDs;

/// <summary>
/// Reads a Megatron-DeepSpeed pipeline checkpoint (the --save folder with 'latest') as HuggingFace Llama tensors:
/// from the fp32 masters of the ZeRO partitions when present (what zero_to_fp32 rebuilds), or from the layer files.
/// </summary>
internal sealed class MegaDsReader : IFormatReader
{
    public string Description => "Megatron-DeepSpeed GPTModelPipe checkpoint with tensor/pipeline parallel layer files (the folder with 'latest')";

    public string? Probe(string path)
    {
        string latest = Path.Combine(path, DeepSpeedPaths.Latest);
        if (!File.Exists(latest)) return null;
        string tag;
        try { tag = DeepSpeedPaths.ReadLatest(latest); }
        catch (CheckpointFormatException) { return null; }
        string dir = Path.Combine(path, tag);
        if (!Directory.Exists(dir)) return null;
        var layers = Directory.EnumerateFiles(dir).Select(f => Path.GetFileName(f)!)
            .Select(n => MegaDsPaths.TryParseLayerFile(n, out int l, out int t) ? (l, t) : (l: -1, t: -1)).Where(x => x.l >= 0).ToList();
        if (layers.Count == 0) return null;
        int tp = layers.Max(x => x.t) + 1, mp = Directory.EnumerateFiles(dir).Count(f => MegaDsPaths.TryParseModelStates(Path.GetFileName(f), out _));
        return $"a Megatron-DeepSpeed pipeline checkpoint (tp {tp}, pp {(tp > 0 ? mp / tp : 0)}, tag {tag})";
    }

    public SourceMetadata Open(ReadSettings settings, FormatOptions options)
    {
        var o = (MegaDsOptions)options;
        // --config wins; else the config.json ckptmpi's writer (or the user) left beside 'latest'.
        string beside = Path.Combine(settings.Input, ModelConfigFile.FileName);
        string? configPath = o.Config ?? (File.Exists(beside) ? beside : null);
        MegaDsCheckpoint c = MegaDsCheckpoint.Open(settings.Input, o.Tag, configPath);
        MegaDsModel m = c.Model;
        bool masters = o.WeightsFrom switch
        {
            MegaDsWeightSource.Module => false,
            MegaDsWeightSource.Optimizer => c.HasOptimizerFiles ? true
                : throw new CheckpointFormatException(c.TagDir, null, "--weights-from optimizer, but the tag folder has no ZeRO optimizer files (saved without ZeRO?); use --weights-from module"),
            _ => c.HasOptimizerFiles,
        };
        if (o.WithOptimizerStates && !masters)
            throw new CheckpointFormatException(c.TagDir, null, "--with-optimizer-states needs the optimizer files (--weights-from optimizer or auto on a checkpoint that has them)");
        // The moments are read when asked for, or when the target resumes training (a ZeRO checkpoint) from the masters.
        bool withStates = o.WithOptimizerStates || (settings.WithTrainingState && masters);
        var (shards, states) = masters ? c.MasterShards(withStates) : (c.ModuleShards(), new());
        var tensors = HfFromMegaDs.Build(m, shards);
        var weightNames = tensors.Select(t => t.Name).ToList();
        var stateTensors = new List<SourceTensor>();
        foreach (string suffix in new[] { ZeroCheckpoint.ExpAvgSuffix, ZeroCheckpoint.ExpAvgSqSuffix, ZeroCheckpoint.StepSuffix })
        {
            if (!states.TryGetValue(suffix, out var set) || set.Count == 0) continue;
            stateTensors.AddRange(suffix == ZeroCheckpoint.StepSuffix ? HfFromMegaDs.Steps(m, set, weightNames, suffix) : HfFromMegaDs.Build(m, set, suffix));
        }
        if (o.WithOptimizerStates && stateTensors.Count == 0)
            Serilog.Log.Warning("--with-optimizer-states: {Dir} holds no Adam state yet (saved before the first step); writing the weights only", c.TagDir);
        var catalog = new SourceCatalog(c.TagDir, [.. tensors, .. stateTensors]);

        var vocabShards = new List<(string Name, LocalShard[] Shards)> { ("model.embed_tokens.weight", shards[(m.EmbedLayer, MegaDsLayout.WordEmbeddings)]) };
        if (!m.Tied) vocabShards.Add(("lm_head.weight", shards[(m.HeadLayer, MegaDsLayout.LmHead)]));
        foreach (var (name, s) in vocabShards)
        {
            if (VocabPadding.Check(m, s, c.TagDir) is string warning) Serilog.Log.Warning("{Tensor} of {Dir}: {Warning}", name, c.TagDir, warning);
        }

        string? configText = null;
        var files = c.FilesRead.Distinct(StringComparer.Ordinal).ToList();
        if (configPath is string config)
        {
            ConfigShapeCheck.Check(catalog, config);
            configText = InputFiles.ReadText(config);
            files.Add(config);
        }
        string latest = Path.Combine(settings.Input, DeepSpeedPaths.Latest);
        if (File.Exists(latest)) files.Add(latest);
        var facts = new SourceFacts
        {
            Format = MegaDsFormat.FormatName,
            ModelConfigJson = configText ?? m.ToHfConfigJson(),
            PreferredDType = masters ? DType.F32 : null,
            NativeFiles = o.WithOptimizerStates && stateTensors.Count > 0 ? MegaDsNativeFiles.Collect(c) : null,
            Training = masters && m.Iteration > 0
                ? new TrainingState
                {
                    Description = $"the Adam moments of a Megatron-DeepSpeed run at iteration {m.Iteration} (tag {c.Tag}; {m})", Tag = c.Tag,
                    Step = m.Iteration.ToString(System.Globalization.CultureInfo.InvariantCulture), StateTensors = stateTensors.Select(t => t.Name).ToArray(),
                    Counters = new Dictionary<string, long> { ["global_steps"] = m.Iteration },
                }
                : null,
        };
        Serilog.Log.Information("megads {Dir}: {Model}; weights from {Source}", c.TagDir, m, masters ? "the fp32 masters of the ZeRO partitions" : "the layer files");
        return new SourceMetadata(catalog, facts, files);
    }
}
