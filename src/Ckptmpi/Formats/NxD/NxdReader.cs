using Ckptmpi.Errors;
using Ckptmpi.Formats.Torch;
using Ckptmpi.Formats.Torch.Pickle;
using Ckptmpi.Model;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;
using Ckptmpi.Tensors.Views;

namespace Ckptmpi.Formats.NxD;

/// <summary>
/// Reads an NxDT checkpoint (the converter's output folder, or its <c>model/</c> folder): opens every rank file's
/// pickle, proves each key has the dtype and shape the layout implies, and describes every canonical HF tensor as
/// box pieces of the rank files. Each slice NxDT stores more than once is read from its first copy and the other
/// copies are checked equal (<see cref="NxdReplicaCheck"/>).
/// </summary>
internal sealed class NxdReader : IFormatReader
{
    public string Description => "NeuronX Distributed Training checkpoint: a folder with model/dp_rank_00_tp_rank_TT_pp_rank_PP.pt (or that model/ folder)";

    public string? Probe(string path)
    {
        string? dir = NxdCheckpointFiles.ModelDirOf(path);
        if (dir is null) return null;
        int n = Directory.EnumerateFiles(dir, "dp_rank_*.pt").Count();
        return $"an NxDT checkpoint ({n} rank file{(n == 1 ? "" : "s")})";
    }

    public SourceMetadata Open(ReadSettings settings, FormatOptions options)
    {
        var o = (NxdOptions)options;
        string input = settings.Input;
        string modelDir = NxdCheckpointFiles.ModelDirOf(input)
            ?? throw new CheckpointFormatException(input, null, "no model/dp_rank_00_tp_rank_TT_pp_rank_PP.pt files here; not an NxDT checkpoint");
        NxdCheckpointFiles files = NxdCheckpointFiles.Scan(modelDir, o.TpSize, o.PpSize);
        string configPath = o.Config ?? NxdCheckpointFiles.DefaultConfig(input, modelDir);
        if (!File.Exists(configPath))
            throw new UnsupportedCheckpointException(input, $"no config.json at {configPath}: NxDT rank files do not say the model's heads and layers; pass --config");
        ModelConfig config = ModelConfig.Load(configPath);

        var archives = new Dictionary<(int, int), Dictionary<string, NxdStored>>();
        for (int p = 0; p < files.Pp; p++)
        for (int t = 0; t < files.Tp; t++)
        {
            string path = files.PathOf(t, p);
            var keys = new Dictionary<string, NxdStored>(StringComparer.Ordinal);
            foreach (NxdStored s in NxdXser.Tensors(TorchArchive.Open(path), path, Path.GetFileName(path), o.Xser))
            {
                if (!keys.TryAdd(s.Key, s)) throw new CheckpointFormatException(path, null, $"key '{s.Key}' occurs twice", s.Key);
            }
            archives[(t, p)] = keys;
        }
        bool invFreq = archives.Values.Any(a => a.Keys.Any(k => k.EndsWith("rotary_emb.inv_freq", StringComparison.Ordinal)));
        string lmHead = o.ModelStyle == NxdModelStyle.Megatron ? NxdPaths.MegatronName("lm_head.weight") : "lm_head.weight";
        bool hasLmHead = archives[(0, files.Pp - 1)].ContainsKey(lmHead);
        NxdShardMap map = NxdShardMap.Build(config, o, files.Tp, files.Pp, invFreq, hasLmHead);

        var shapes = Order(config, invFreq).ToDictionary(c => c.Name, c => c.Shape, StringComparer.Ordinal);
        var pieces = new Dictionary<string, List<(SourcePiece Piece, Box Box)>>(StringComparer.Ordinal);
        var dtypes = new Dictionary<string, DType>(StringComparer.Ordinal);
        var replicas = new List<NxdReplica>();
        foreach (NxdRankFile rank in map.Files)
        {
            var keys = archives[(rank.Tp, rank.Pp)];
            string path = files.PathOf(rank.Tp, rank.Pp);
            foreach (NxdEntry e in rank.Entries)
            {
                if (!keys.TryGetValue(e.Key, out NxdStored? stored))
                    throw new CheckpointFormatException(path, null, $"no key '{e.Key}', which --model-style {Style(o)} with these attention options implies (check --qkv-linear, --fuse-qkv, --coalesce-qkv, --tp-size, --pp-size)", e.Key);
                PyTensor tensor = stored.Tensor;
                if (!tensor.Shape.SequenceEqual(e.Shape))
                    throw new CheckpointFormatException(path, null, $"'{e.Key}' has shape [{string.Join(", ", tensor.Shape)}] but {configPath} with these options implies [{string.Join(", ", e.Shape)}]", e.Key);
                // NxD's converter leaves some 2-D tensors as transposes (strides [1, rows]); any other layout is not one run.
                bool transposed = !tensor.IsContiguous && tensor.Shape.Count == 2 && tensor.Stride[0] == 1 && tensor.Stride[1] == tensor.Shape[0];
                if (!tensor.IsContiguous && !(transposed && e.Parts.Count == 1))
                    throw new UnsupportedCheckpointException(path, $"'{e.Key}' is stored with strides [{string.Join(", ", tensor.Stride)}], which is not one run of its elements; re-save it with .contiguous()");
                long start = stored.ByteOffset;
                string name = stored.File;
                int size = tensor.DType.SizeInBytes();
                long cols = e.Shape.Length > 1 ? e.Shape[1] : 1;
                foreach (NxdPart part in e.Parts)
                {
                    if (dtypes.TryGetValue(part.Tensor, out DType seen) && seen != tensor.DType)
                        throw new CheckpointFormatException(path, null, $"'{e.Key}' is {tensor.DType} but other slices of '{part.Tensor}' are {seen}", e.Key);
                    dtypes[part.Tensor] = tensor.DType;
                    long offset = start + part.DestRow * cols * size;
                    var list = pieces.TryGetValue(part.Tensor, out var l) ? l : pieces[part.Tensor] = new();
                    int same = list.FindIndex(x => x.Box.Equals(part.Box));
                    if (same >= 0)
                    {
                        SourcePiece first = list[same].Piece;
                        replicas.Add(new NxdReplica(part.Tensor, $"the copy of {part.Box} in '{e.Key}'", first.File, first.ByteOffset, name, offset, part.Box.ElementCount * size));
                        continue;
                    }
                    if (list.Any(x => x.Box.Intersect(part.Box) is not null))
                        throw new InvalidOperationException($"{part.Tensor}: slice {part.Box} partly overlaps another"); // the shard map never does this
                    long[] split = shapes[part.Tensor];
                    list.Add((new SourcePiece(name, offset, tensor.DType, part.Box, split, transposed ? [1, 0] : null), part.Box));
                }
            }
            var expected = rank.Entries.Select(e => e.Key).ToHashSet(StringComparer.Ordinal);
            string? extra = keys.Keys.FirstOrDefault(k => !expected.Contains(k));
            if (extra is not null)
                throw new CheckpointFormatException(path, null, $"unexpected key '{extra}' for --model-style {Style(o)} with these options (check --qkv-linear, --fuse-qkv, --coalesce-qkv, --tp-size, --pp-size)", extra);
        }
        NxdReplicaCheck.Run(modelDir, replicas);

        var tensors = new List<SourceTensor>();
        foreach (CanonicalTensor c in Order(config, invFreq))
        {
            if (!pieces.TryGetValue(c.Name, out var list)) continue;
            tensors.Add(new SourceTensor(c.Name, dtypes[c.Name], c.Shape, list.Select(x => x.Piece).ToList()));
        }
        // Every file read: the rank files, the xser tensor files they refer to, config.json.
        var inputs = map.Files.Select(f => files.PathOf(f.Tp, f.Pp))
            .Concat(archives.Values.SelectMany(a => a.Values).Select(s => Path.Combine(modelDir, s.File)))
            .Distinct(StringComparer.Ordinal).Append(configPath).ToList();
        var facts = new SourceFacts { Format = NxdFormat.FormatName, ModelConfigJson = ModelConfigFile.TryRead(configPath) };
        return new SourceMetadata(new SourceCatalog(modelDir, tensors), facts, inputs);
    }

    private static string Style(NxdOptions o) => o.ModelStyle.ToString().ToLowerInvariant();

    /// <summary>The HF module order (what a Llama <c>state_dict()</c> lists): rotary buffers after each layer's norms.</summary>
    internal static IEnumerable<CanonicalTensor> Order(ModelConfig config, bool invFreq)
    {
        foreach (CanonicalTensor c in config.CanonicalTensors())
        {
            yield return c;
            if (invFreq && c.Name.EndsWith(".post_attention_layernorm.weight", StringComparison.Ordinal))
            {
                string layer = c.Name[..^".post_attention_layernorm.weight".Length];
                yield return new CanonicalTensor(layer + ".self_attn.rotary_emb.inv_freq", [config.HeadDim / 2]);
            }
        }
    }
}
