using Ckptmpi.Errors;
using Ckptmpi.Formats.Torch;
using Ckptmpi.Formats.Torch.Pickle;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Formats.Meta;

/// <summary>
/// The opened shards of a Meta checkpoint (pickles only): their MP, the state dict of each, and the checks that they
/// are exactly the shards of one model: no file missing or extra, every tensor of the shape params.json implies.
/// </summary>
internal sealed class MetaShardSet
{
    private const string ProbeTensor = "layers.0.attention.wq.weight";

    private readonly string _dir;
    private readonly TorchArchive[] _archives;
    private readonly Dictionary<string, PyTensor>[] _tensors;

    private MetaShardSet(string dir, TorchArchive[] archives, Dictionary<string, PyTensor>[] tensors, DType dtype)
    {
        _dir = dir;
        _archives = archives;
        _tensors = tensors;
        DType = dtype;
    }

    public int Mp => _archives.Length;

    public DType DType { get; }

    public IEnumerable<string> Paths => _archives.Select(a => a.Path);

    /// <exception cref="CheckpointFormatException">a shard missing or extra, a malformed file, a tensor absent or of another dtype.</exception>
    public static MetaShardSet Open(string dir, SortedDictionary<int, string> files, MetaParams p)
    {
        // The MP comes from the first shard's query rows (each shard holds n_heads / MP heads), so a missing or
        // surplus file is named rather than taken for a different MP.
        int first = files.Keys.First();
        string firstPath = Path.Combine(dir, files[first]);
        TorchArchive probe = TorchArchive.Open(firstPath);
        var probeTensors = StateDict(probe);
        if (!probeTensors.TryGetValue(ProbeTensor, out PyTensor? wq) || wq.Shape.Count != 2)
            throw new CheckpointFormatException(firstPath, null, $"has no 2-D '{ProbeTensor}', so it is not a shard of a Meta Llama checkpoint", ProbeTensor);
        long rows = wq.Shape[0], total = p.Dim;
        if (rows < 1 || total % rows != 0 || total / rows > MetaFormat.MaxMpSize)
            throw new ShapeMismatchException(firstPath, ProbeTensor, [total, p.Dim], wq.Shape, $"its {rows} rows are not a whole share of params.json's dim {p.Dim}");
        int mp = (int)(total / rows);
        for (int s = 0; s < mp; s++)
        {
            if (!files.ContainsKey(s))
                throw new CheckpointFormatException(Path.Combine(dir, MetaPaths.Shard(s)), null,
                    $"is missing: {files[first]}'s {ProbeTensor} holds {rows} of {total} query rows, so the checkpoint has MP {mp} ({MetaPaths.Shard(0)} to {MetaPaths.Shard(mp - 1)})");
        }
        foreach (var (rank, name) in files)
        {
            if (rank >= mp)
                throw new CheckpointFormatException(Path.Combine(dir, name), null,
                    $"is one shard too many: {files[first]}'s {ProbeTensor} holds {rows} of {total} query rows, so the checkpoint has MP {mp} ({MetaPaths.Shard(0)} to {MetaPaths.Shard(mp - 1)})");
        }
        var archives = new TorchArchive[mp];
        var tensors = new Dictionary<string, PyTensor>[mp];
        for (int s = 0; s < mp; s++)
        {
            archives[s] = s == first ? probe : TorchArchive.Open(Path.Combine(dir, files[s]));
            tensors[s] = s == first ? probeTensors : StateDict(archives[s]);
        }
        return new MetaShardSet(dir, archives, tensors, wq.DType);
    }

    private static Dictionary<string, PyTensor> StateDict(TorchArchive a)
    {
        var d = new Dictionary<string, PyTensor>(StringComparer.Ordinal);
        foreach (var (name, t) in TorchStateDict.Flatten(a.Root))
        {
            if (!d.TryAdd(name, t)) throw new CheckpointFormatException(a.Path, null, $"tensor '{name}' occurs twice", name);
        }
        return d;
    }

    /// <summary>The model: params.json, the vocabulary and embedding split the shards show, and the KV copies (--meta-kv-heads, else found).</summary>
    public MetaModel Model(MetaParams p, MetaOptions o)
    {
        string emb = "tok_embeddings.weight";
        PyTensor e = Tensor(0, emb);
        if (e.Shape.Count != 2) throw new ShapeMismatchException(_archives[0].Path, emb, [p.VocabSize, p.Dim], e.Shape, "the embedding is not 2-D");
        int split;
        long vocab;
        if (Mp == 1 || e.Shape[1] == p.Dim) (split, vocab) = (Mp == 1 ? MetaModel.EmbeddingSplitFor(o.Version ?? VersionOf(p, e.Shape[0])) : 0, e.Shape[0] * Mp);
        else if (e.Shape[1] * Mp == p.Dim) (split, vocab) = (1, e.Shape[0]);
        else throw new ShapeMismatchException(_archives[0].Path, emb, [p.VocabSize > 0 ? p.VocabSize / Mp : -1, p.Dim], e.Shape, $"the embedding shard is cut on neither dim 0 nor dim 1 of a [vocab, {p.Dim}] embedding over MP {Mp}");
        if (p.VocabSize > 0 && vocab != p.VocabSize)
            throw new ShapeMismatchException(_archives[0].Path, emb, split == 0 ? [p.VocabSize / Mp, p.Dim] : [p.VocabSize, p.Dim / Mp], e.Shape, $"params.json's vocab_size {p.VocabSize} over MP {Mp}");
        int replicas = o.KvHeads is int kv ? ReplicasFor(p, kv, Path.Combine(_dir, MetaParams.FileName)) : DetectReplicas(p);
        return ModelOf(p, o, vocab, split, replicas);
    }

    public static string VersionOf(MetaParams p, long vocab) => MetaVersions.Infer(p.UseScaledRope, p.RopeTheta, vocab);

    public static MetaModel ModelOf(MetaParams p, MetaOptions o, long vocab, int split, int replicas)
    {
        string version = o.Version ?? VersionOf(p, vocab);
        return new MetaModel
        {
            Dim = p.Dim, Layers = p.Layers, Heads = p.Heads, KvHeads = p.KvHeads / replicas, KvReplicas = replicas, FfnDim = p.FfnDim, Vocab = vocab,
            NormEps = p.NormEps, RopeTheta = p.RopeTheta, Version = version, EmbeddingSplitDim = split,
            RopeScaling = p.UseScaledRope ? RopeScaling.Llama31 with { Factor = p.RopeScalingFactor ?? RopeScaling.Llama31.Factor } : null,
        };
    }

    /// <summary>How many times each of <paramref name="kv"/> real KV heads is stored when params.json declares its count.</summary>
    /// <exception cref="FormatOptionException">--meta-kv-heads does not divide the declared KV heads and the query heads.</exception>
    public static int ReplicasFor(MetaParams p, int kv, string paramsPath)
    {
        if (kv > p.KvHeads || p.KvHeads % kv != 0 || p.Heads % kv != 0)
            throw new FormatOptionException("--meta-kv-heads", $"--meta-kv-heads {kv} must divide params.json's n_kv_heads {p.KvHeads} ({paramsPath}) and n_heads {p.Heads}");
        return (int)(p.KvHeads / kv);
    }

    private int DetectReplicas(MetaParams p)
    {
        long d = p.Dim / p.Heads;
        if (p.KvHeads % Mp != 0) return 1; // Refused with a clear message when the model is checked.
        return KvReplicas.Detect(Heads(0, "wk", p.KvHeads, d, p.Dim), Heads(0, "wv", p.KvHeads, d, p.Dim), p.KvHeads, p.Heads);
    }

    /// <summary>The bytes of every declared KV head of layer <paramref name="layer"/>'s wk or wv, in declared order (shapes checked later).</summary>
    private List<HeadBytes> Heads(long layer, string which, long declared, long d, long dim)
    {
        string name = $"layers.{layer}.attention.{which}.weight";
        long local = declared / Mp, bytes = d * dim * DType.SizeInBytes();
        var heads = new List<HeadBytes>();
        for (int s = 0; s < Mp; s++)
        {
            PyTensor t = Tensor(s, name);
            if (t.DType != DType || t.ElementCount != local * d * dim || !t.IsContiguous)
                throw new ShapeMismatchException(_archives[s].Path, name, [local * d, dim], t.Shape, $"params.json declares {declared} KV heads of dim {d} over MP {Mp}");
            long start = _archives[s].RangeOf(t).Start;
            for (long l = 0; l < local; l++) heads.Add(new HeadBytes(_archives[s].Path, start + l * bytes, bytes));
        }
        return heads;
    }

    private PyTensor Tensor(int shard, string name) =>
        _tensors[shard].TryGetValue(name, out PyTensor? t) ? t
            : throw new CheckpointFormatException(_archives[shard].Path, null, $"has no tensor '{name}' (every shard holds its part of every tensor of the model)", name);

    /// <summary>
    /// The catalog: every HF tensor as box pieces of the shards, after checking each shard's tensor has the shape
    /// the model and MP give, no shard has a tensor the model lacks, and (unless a dry run, which reads no tensor data
    /// beyond the first layer's KV heads) every KV copy equals the head that is read.
    /// </summary>
    public SourceCatalog Catalog(MetaModel m, bool verifyReplicas)
    {
        string paramsPath = Path.Combine(_dir, MetaParams.FileName);
        if (MetaShardGeometry.Refusal(m, Mp) is string why)
            throw new CheckpointFormatException(paramsPath, null, $"the model of params.json does not split over the {Mp} shards found: {why}");
        IReadOnlyList<MetaTensor> all = MetaTensor.All(m);
        var known = all.Select(t => t.MetaName).ToHashSet(StringComparer.Ordinal);
        for (int s = 0; s < Mp; s++)
        {
            foreach (string name in _tensors[s].Keys)
            {
                if (!known.Contains(name) && !MetaTensor.IsIgnored(name))
                    throw new CheckpointFormatException(_archives[s].Path, null, $"holds tensor '{name}', which a Llama model of params.json ({m.Layers} layers) does not have", name);
            }
        }
        int esize = DType.SizeInBytes();
        var tensors = new List<SourceTensor>(all.Count);
        foreach (MetaTensor t in all)
        {
            var pieces = new List<SourcePiece>();
            for (int s = 0; s < Mp; s++)
            {
                MetaShardTensor g = MetaShardGeometry.For(m, t, Mp, s);
                PyTensor py = Tensor(s, t.MetaName);
                string file = Path.GetFileName(_archives[s].Path);
                if (!py.Shape.SequenceEqual(g.LocalShape))
                    throw new ShapeMismatchException(_archives[s].Path, t.MetaName, g.LocalShape, py.Shape,
                        $"shard {s} of {Mp} of a [{string.Join(", ", t.Shape)}] tensor{SplitWords(t, m)} does not have the shape params.json implies (dim {m.Dim}, {m.Heads} heads, {m.DeclaredKvHeads} KV heads, FFN {m.FfnDim}, vocab {m.Vocab})");
                if (py.DType != DType)
                    throw new CheckpointFormatException(_archives[s].Path, null, $"tensor '{t.MetaName}' is {py.DType.TorchName()} but {Path.GetFileName(_archives[0].Path)} holds {DType.TorchName()}", t.MetaName);
                if (!py.IsContiguous)
                    throw new UnsupportedCheckpointException(_archives[s].Path, $"tensor '{t.MetaName}' is a non-contiguous view; re-save it with .contiguous()");
                if (t.Split == MetaSplit.Replicated && s > 0) continue; // Every shard holds a copy; Meta's code and transformers' take shard 0's.
                long start = _archives[s].RangeOf(py).Start;
                long[] recordStrides = Ckptmpi.Tensors.Views.TensorView.RowMajorStrides(g.RecordShape);
                foreach (MetaShardPart part in g.Parts)
                {
                    if (part.IsReplica(m.KvReplicas)) continue;
                    long at = part.Destination.Start.Select((x, i) => x * recordStrides[i]).Sum();
                    pieces.Add(new SourcePiece(file, start + at * esize, DType, part.Box, part.Split, part.Permutation));
                }
            }
            tensors.Add(new SourceTensor(t.HfName, DType, t.Shape, pieces));
        }
        if (m.KvReplicas > 1 && verifyReplicas) VerifyReplicas(m);
        return new SourceCatalog(_dir, tensors);
    }

    private static string SplitWords(MetaTensor t, MetaModel m) => t.Split switch
    {
        MetaSplit.Replicated => " (replicated)",
        MetaSplit.Columns => " cut on dim 1",
        MetaSplit.Embedding => $" cut on dim {m.EmbeddingSplitDim}",
        _ => " cut on dim 0",
    };

    private void VerifyReplicas(MetaModel m)
    {
        for (long layer = 0; layer < m.Layers; layer++)
        {
            foreach (string which in new[] { "wk", "wv" })
                KvReplicas.Verify($"layers.{layer}.attention.{which}.weight", Heads(layer, which, m.DeclaredKvHeads, m.HeadDim, m.Dim), m.KvReplicas);
        }
    }
}
