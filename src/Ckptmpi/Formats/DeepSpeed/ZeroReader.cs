using System.Text;
using Ckptmpi.Tensors;

namespace Ckptmpi.Formats.DeepSpeed;

/// <summary>
/// Reads a DeepSpeed ZeRO checkpoint (the folder with 'latest'): the fp32 master weights as the canonical tensors
/// (what <c>zero_to_fp32</c> reconstructs), the Adam moments too with --with-optimizer-states, and the config.json
/// beside 'latest' (or --config), checked against the shapes.
/// </summary>
internal sealed class ZeroReader : IFormatReader
{
    public string Description => "DeepSpeed ZeRO 1/2/3 checkpoint (the folder with 'latest')";

    public string? Probe(string path)
    {
        string latest = Path.Combine(path, DeepSpeedPaths.Latest);
        if (!File.Exists(latest)) return null;
        string tag;
        try { tag = DeepSpeedPaths.ReadLatest(latest); }
        catch (Errors.CheckpointFormatException e) { return $"a DeepSpeed checkpoint folder whose 'latest' is unusable ({e.Reason})"; }
        string tagDir = Path.Combine(path, tag);
        if (!Directory.Exists(tagDir)) return $"a DeepSpeed checkpoint folder (its 'latest' names tag '{tag}', which is not there)";
        string[] names = Directory.EnumerateFiles(tagDir).Select(f => Path.GetFileName(f)!).ToArray();
        // Pipeline layer files make it a Megatron-DeepSpeed checkpoint, which its own reader claims.
        if (names.Any(n => n.StartsWith("layer_", StringComparison.Ordinal) && n.EndsWith("-model_states.pt", StringComparison.Ordinal))) return null;
        int dp = names.Count(n => DeepSpeedPaths.TryParseOptimStates(n, out _, out int mp, out _) && mp == 0);
        // Stage 3 is told by its per-rank model files; telling 1 from 2 needs the optimizer pickle, which Open reads.
        string stage = names.Contains(DeepSpeedPaths.Zero3ModelStates(0)) ? "ZeRO-3" : "ZeRO-1/2";
        return $"a DeepSpeed {stage} checkpoint (dp {dp}, tag {tag})";
    }

    public SourceMetadata Open(ReadSettings settings, FormatOptions options)
    {
        var o = (ZeroOptions)options;
        bool withStates = o.WithOptimizerStates || settings.WithTrainingState;
        ZeroSource source = ZeroCheckpoint.Read(settings.Input, o.Tag, withStates);
        var files = source.Catalog.Tensors.SelectMany(t => t.Pieces).Select(p => p.File).Distinct().Order(StringComparer.Ordinal)
            .Select(f => Path.Combine(source.Catalog.Root, f)).ToList();
        string latest = Path.Combine(settings.Input, DeepSpeedPaths.Latest);
        if (File.Exists(latest)) files.Add(latest);
        // --config wins; else the config.json ckptmpi (or the user) left beside 'latest'.
        string config = o.Config ?? Path.Combine(settings.Input, ModelConfigFile.FileName);
        if (o.Config is not null && !File.Exists(config))
            throw new FileNotFoundException($"--config {config}: no such file", config);
        string? configText = null;
        if (File.Exists(config))
        {
            ConfigShapeCheck.Check(source.Catalog, config);
            configText = InputFiles.ReadText(config);
            files.Add(config);
        }
        ZeroCheckpointInfo info = source.Info;
        var facts = new SourceFacts
        {
            Format = ZeroFormat.FormatName,
            ModelConfigJson = configText,
            PreferredDType = DType.F32,
            // What a universal target reuses; the catalog root is the tag folder.
            NativeFiles = withStates ? ZeroNativeFiles.Collect(source.Catalog.Root, info) : null,
            Training = new TrainingState
            {
                Description = $"the Adam moments (exp_avg, exp_avg_sq){(info.Step is string s ? $" and step {s}" : " and step")} of a ZeRO-{info.Stage} run (dp {info.DpSize}, tag {info.Tag})",
                Tag = info.Tag,
                Step = info.Step,
                Counters = info.Counters,
                StateTensors = info.StateTensors,
            },
        };
        return new SourceMetadata(source.Catalog, facts, files);
    }
}
