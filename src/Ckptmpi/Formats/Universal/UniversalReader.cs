using System.Globalization;
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
/// Reads a universal checkpoint as HuggingFace Llama tensors: each parameter's <c>fp32.pt</c> (and with
/// --with-optimizer-states its <c>exp_avg.pt</c>, <c>exp_avg_sq.pt</c>, <c>step.pt</c>) split back into q/k/v and
/// gate/up where Megatron fuses them. Every parameter folder must hold the three state files.
/// </summary>
internal sealed class UniversalReader : IFormatReader
{
    public string Description => "DeepSpeed universal checkpoint of a Megatron-DeepSpeed run (the folder with 'latest_universal', or its tag folder)";

    public string? Probe(string path)
    {
        // A save root with both 'latest' and 'latest_universal' is the megads reader's unless the tag folder is named.
        bool tagFolder = UniversalFolder.IsTagFolder(path);
        if (!tagFolder && (File.Exists(Path.Combine(path, DeepSpeedPaths.Latest)) || !File.Exists(Path.Combine(path, UniversalPaths.LatestUniversal)))) return null;
        try
        {
            string? dir = UniversalFolder.Resolve(path, null, out string tag);
            return dir is not null && UniversalFolder.IsTagFolder(dir) ? $"a DeepSpeed universal checkpoint (tag {tag})" : null;
        }
        catch (CheckpointFormatException) { return null; }
    }

    public SourceMetadata Open(ReadSettings settings, FormatOptions options)
    {
        var o = (UniversalOptions)options;
        UniversalFolder u = UniversalFolder.Open(settings.Input, o.Tag);
        // The moments are read when asked for, or when the target resumes training (a ZeRO checkpoint).
        bool states = o.WithOptimizerStates || settings.WithTrainingState;
        MegaDsModel m = u.Model;
        var byName = new Dictionary<string, SourceTensor>(StringComparer.Ordinal);
        var files = new List<string>(u.FilesRead);
        foreach (EngineParam p in u.Params)
        {
            foreach (string state in UniversalPaths.States)
            {
                string rel = $"{UniversalPaths.Zero}/{p.Name}/{state}.pt", path = Path.Combine(u.Dir, rel);
                if (!File.Exists(path))
                    throw new CheckpointFormatException(path, null, $"{state}.pt of parameter '{p.Name}' is missing: a universal checkpoint holds the fp32 master and both Adam moments of every parameter");
                if (state != UniversalPaths.Fp32 && !states) continue;
                string suffix = state == UniversalPaths.Fp32 ? "" : "." + state;
                foreach (SourceTensor t in Tensors(m, p, rel, path, suffix)) byName.Add(t.Name, t);
                files.Add(path);
            }
            if (states)
            {
                string rel = $"{UniversalPaths.Zero}/{p.Name}/{UniversalPaths.Step}.pt", path = Path.Combine(u.Dir, rel);
                if (!File.Exists(path)) throw new CheckpointFormatException(path, null, $"step.pt of parameter '{p.Name}' is missing (--with-optimizer-states)");
                TorchArchive a = TorchArchive.Open(path);
                MegaDsGlobals.CheckLayerFile(a);
                PyTensor step = PyRead.Tensor(a.Root, path, "step");
                if (step.ElementCount != 1) throw new CheckpointFormatException(path, null, $"the step should be one number, not a tensor of shape [{string.Join(", ", step.Shape)}]");
                foreach (string hf in p.Hf)
                {
                    string name = hf + ZeroCheckpoint.StepSuffix;
                    byName.Add(name, new SourceTensor(name, step.DType, [], [new SourcePiece(0, 1, rel, a.RangeOf(step).Start, step.DType)]));
                }
                files.Add(path);
            }
        }
        var order = HfOrder(m).ToList();
        var all = new List<SourceTensor>();
        string[] suffixes = states ? ["", ZeroCheckpoint.ExpAvgSuffix, ZeroCheckpoint.ExpAvgSqSuffix, ZeroCheckpoint.StepSuffix] : [""];
        foreach (string suffix in suffixes)
        {
            foreach (string hf in order)
            {
                all.Add(byName.GetValueOrDefault(hf + suffix)
                    ?? throw new CheckpointFormatException(u.Dir, null, $"no parameter folder holds '{hf}'; the model states list {string.Join(", ", u.Params.Select(p => p.Name))}"));
            }
        }
        var catalog = new SourceCatalog(u.Dir, all);
        var facts = new SourceFacts
        {
            Format = UniversalFormat.FormatName,
            ModelConfigJson = m.ToHfConfigJson(),
            PreferredDType = DType.F32,
            Training = new TrainingState
            {
                // A target that resumes training names its tag after the iteration, as the trainer does (not '_universal').
                Description = $"the Adam moments of a universal checkpoint at iteration {m.Iteration} (tag {u.Tag}; {m})",
                Tag = $"global_step{m.Iteration.ToString(CultureInfo.InvariantCulture)}",
                Counters = new Dictionary<string, long> { ["global_steps"] = m.Iteration },
                Step = m.Iteration.ToString(CultureInfo.InvariantCulture),
                StateTensors = all.Where(t => !order.Contains(t.Name)).Select(t => t.Name).ToArray(),
            },
        };
        Serilog.Log.Information("universal {Dir}: {Model}; {Params} parameters", u.Dir, m, u.Params.Count);
        return new SourceMetadata(catalog, facts, files);
    }

    /// <summary>The HF tensors of one state file, as pieces of its <c>param</c> tensor.</summary>
    private static IEnumerable<SourceTensor> Tensors(MegaDsModel m, EngineParam p, string rel, string path, string suffix)
    {
        TorchArchive a = TorchArchive.Open(path);
        MegaDsGlobals.CheckLayerFile(a);
        PyDict root = PyRead.Dict(a.Root, path, "universal state file");
        PyTensor t = PyRead.Tensor(PyRead.Key(root, "param", path, "universal state file"), path, "param");
        if (!t.Shape.SequenceEqual(p.Stored)) throw new ShapeMismatchException(path, p.Name, p.Stored, t.Shape.ToArray(), $"the model is {m}");
        if (!t.IsContiguous) throw new UnsupportedCheckpointException(path, "the param tensor is not contiguous");
        if ((root.Get("vocab_tensor") is PyBool { Value: true }) != p.Rule.Vocab)
            throw new CheckpointFormatException(path, null, $"vocab_tensor marker {(p.Rule.Vocab ? "missing" : "unexpected")}: universal_checkpoint_info says '{p.Name}' is {(p.Rule.Vocab ? "" : "not ")}a vocabulary parameter");
        long start = a.RangeOf(t).Start;
        int size = t.DType.SizeInBytes();
        if (p.IsQkv)
        {
            int qPerKv = m.Heads / m.KvHeads, perGroup = qPerKv + 2;
            long row = (long)m.HeadDim * m.Hidden;
            (int First, int Count, long Rows)[] parts = [(0, qPerKv, m.Heads), (qPerKv, 1, m.KvHeads), (qPerKv + 1, 1, m.KvHeads)];
            for (int i = 0; i < 3; i++)
            {
                var (first, count, rows) = parts[i];
                var pieces = new List<SourcePiece>();
                for (int g = 0; g < m.KvHeads; g++)
                {
                    pieces.Add(new SourcePiece(rel, start + ((long)g * perGroup + first) * row * size, t.DType,
                        new Box([g, 0], [1, count * row]), [m.KvHeads, count * row], null));
                }
                yield return new SourceTensor(p.Hf[i] + suffix, t.DType, [rows * m.HeadDim, m.Hidden], pieces);
            }
            yield break;
        }
        long each = t.ElementCount / p.Hf.Length;
        long[] shape = (long[])p.Stored.Clone();
        shape[0] /= p.Hf.Length;
        for (int i = 0; i < p.Hf.Length; i++)
            yield return new SourceTensor(p.Hf[i] + suffix, t.DType, shape, [new SourcePiece(0, each, rel, start + i * each * size, t.DType)]);
    }

    /// <summary>HF tensor names in the order the megads reader lists them (named_parameters() of LlamaForCausalLM).</summary>
    private static IEnumerable<string> HfOrder(MegaDsModel m)
    {
        yield return "model.embed_tokens.weight";
        for (int i = 0; i < m.Layers; i++)
        {
            string p = $"model.layers.{i}.";
            foreach (string s in new[] { "input_layernorm", "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "post_attention_layernorm", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj" })
                yield return p + s + ".weight";
        }
        yield return "model.norm.weight";
        if (!m.Tied) yield return "lm_head.weight";
    }
}
