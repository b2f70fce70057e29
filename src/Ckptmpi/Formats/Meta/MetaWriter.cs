using System.Text;
using Ckptmpi.Errors;
using Ckptmpi.Formats.Torch;
using Ckptmpi.Formats.Torch.Pickle;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Formats.Meta;

/// <summary>
/// Meta's original layout from HF canonical tensors: <c>consolidated.NN.pth</c> for --mp-size shards (torch.save zips
/// of Meta's state dict, each tensor a view record of the HF tensor in Meta's interleaved rotary order) and
/// <c>params.json</c>, written last as the commit marker because Meta's loaders read it first. Above the KV heads,
/// each KV head is repeated in place in the shards that need it (declared heads <c>[0, 0, 1, 1]</c>, never tiled),
/// and params.json declares the stored count, as Llama 3.1 405B bf16-mp16 does.
/// </summary>
internal sealed class MetaWriter : IFormatWriter
{
    public string Description => "Meta's original Llama layout: consolidated.NN.pth shards (--mp-size) + params.json (last)";

    public bool ConsumesEverything => true;

    public IReadOnlyList<string> InputFiles(FormatOptions options) => [];

    public TargetLayout Layout(WriteInput input, FormatOptions options)
    {
        var o = (MetaOptions)options;
        string configPath = Path.Combine(input.Catalog.Root, ModelConfigFile.FileName);
        string text = input.Facts.ModelConfigJson
            ?? throw new UnsupportedCheckpointException(configPath, "--to meta needs the source's config.json (the model's heads, FFN width and rope settings), and the source has none");
        MetaModel m = WithMp(MetaHfConfig.Parse(text, configPath, o.Version), o.MpSize, configPath);
        IReadOnlyList<MetaTensor> all = MetaTensor.All(m);
        CheckCatalog(input.Catalog, all, configPath);
        DType? dtype = input.DType ?? input.Facts.PreferredDType;
        var files = new OutputFile[o.MpSize];
        // Every shard's archive is a pure function of its own object graph, so they are laid out in parallel.
        System.Threading.Tasks.Parallel.For(0, o.MpSize, s => files[s] = Shard(m, all, o.MpSize, s, input.Catalog, dtype));
        byte[] paramsJson = Encoding.UTF8.GetBytes(ParamsOf(m).ToJson());
        // Side files (a Meta source's tokenizer.model) are carried; config.json is not part of Meta's layout.
        OutputLayout withSides = ModelConfigFile.AppendTo(new OutputLayout(files), input.Facts with { ModelConfigJson = null });
        var layout = new OutputLayout([.. withSides.Files, new OutputFile(MetaParams.FileName, paramsJson.Length, [new LiteralSegment(0, paramsJson)], []) { IsCommitMarker = true }]);
        layout.Validate();
        var notes = new List<string>();
        if (m.KvReplicas > 1)
            notes.Add($"MP {o.MpSize} is more than the model's {m.KvHeads} KV heads: each KV head is stored in {m.KvReplicas} shards and params.json declares n_kv_heads {m.DeclaredKvHeads}, as Llama 3.1 405B bf16-mp16 does");
        return new TargetLayout(layout, notes);
    }

    /// <exception cref="FormatOptionException">--mp-size does not divide the model.</exception>
    private static MetaModel WithMp(MetaModel m, int mp, string configPath)
    {
        int replicas = 1;
        if (mp > m.KvHeads)
        {
            if (mp % m.KvHeads != 0)
                throw new FormatOptionException("--mp-size", $"--mp-size {mp} is more than the {m.KvHeads} KV heads of {configPath} but not a multiple of them, so the heads cannot be repeated evenly");
            replicas = (int)(mp / m.KvHeads);
        }
        m = m with { KvReplicas = replicas };
        if (MetaShardGeometry.Refusal(m, mp) is string why) throw new FormatOptionException("--mp-size", $"--mp-size {mp} cannot cut the model of {configPath}: {why}");
        return m;
    }

    /// <exception cref="ShapeMismatchException">a tensor contradicts config.json.</exception>
    /// <exception cref="UnsupportedCheckpointException">a tensor Meta's layout has no place for, or one it needs is absent.</exception>
    private static void CheckCatalog(SourceCatalog catalog, IReadOnlyList<MetaTensor> all, string configPath)
    {
        var names = all.Select(t => t.HfName).ToHashSet(StringComparer.Ordinal);
        foreach (SourceTensor t in catalog.Tensors)
        {
            if (!names.Contains(t.Name))
                throw new UnsupportedCheckpointException(t.Pieces.Count > 0 ? Path.Combine(catalog.Root, t.Pieces[0].File) : catalog.Root, $"tensor '{t.Name}' has no place in Meta's Llama state dict");
        }
        foreach (MetaTensor t in all)
        {
            if (!catalog.Contains(t.HfName))
                throw new UnsupportedCheckpointException(catalog.Root, $"the source has no '{t.HfName}', which Meta's {t.MetaName} needs");
            SourceTensor s = catalog[t.HfName];
            if (!s.Shape.SequenceEqual(t.Shape))
                throw new ShapeMismatchException(configPath, t.HfName, t.Shape, s.Shape, "the tensor contradicts config.json");
        }
    }

    private static OutputFile Shard(MetaModel m, IReadOnlyList<MetaTensor> all, int mp, int s, SourceCatalog catalog, DType? dtype)
    {
        var root = new PyDict();
        var records = new Dictionary<string, (MetaShardTensor Geometry, DType DType)>(StringComparer.Ordinal);
        foreach (MetaTensor t in all)
        {
            MetaShardTensor g = MetaShardGeometry.For(m, t, mp, s);
            DType d = dtype ?? catalog[t.HfName].DType;
            string key = records.Count.ToString(System.Globalization.CultureInfo.InvariantCulture);
            var storage = new TorchStorage(key, d, DTypes.ElementCount(g.LocalShape));
            records[key] = (g, d);
            root.Add(t.MetaName, new PyTensor(storage, 0, g.LocalShape, PyTensor.ContiguousStrides(g.LocalShape)));
        }
        string path = MetaPaths.Shard(s);
        TorchArchivePlan plan = TorchArchiveLayout.Plan(root, TorchArchiveLayout.ArchiveNameFor(path));
        return plan.ToOutputFile(path, (storage, range) => [Record(records[storage.Key].Geometry, records[storage.Key].DType, range.Start)]);
    }

    private static OutputSegment Record(MetaShardTensor g, DType dtype, long offset)
    {
        MetaTensor t = g.Tensor;
        if (t.Split == MetaSplit.Replicated) return new TensorSegment(offset, t.HfName, 0, DTypes.ElementCount(t.Shape), dtype);
        return new ViewSegment(offset, g.RecordShape, dtype, TensorOp.Copy,
            g.Parts.Select(p => new ViewPart(t.HfName, p.Split, p.Box, p.Permutation, p.Destination)).ToList());
    }

    /// <summary>params.json for the model: declared KV heads count the copies; multiple_of and ffn_dim_multiplier reproduce the FFN width.</summary>
    internal static MetaParams ParamsOf(MetaModel m)
    {
        (long multipleOf, double? multiplier) = MetaParams.FfnArgsFor(m.Dim, m.FfnDim);
        return new MetaParams
        {
            Dim = m.Dim, Layers = m.Layers, Heads = m.Heads, KvHeads = m.DeclaredKvHeads, ExplicitKvHeads = m.KvHeads != m.Heads, VocabSize = m.Vocab, MultipleOf = multipleOf, FfnDimMultiplier = multiplier,
            NormEps = m.NormEps, RopeTheta = m.RopeTheta, UseScaledRope = m.RopeScaling is not null,
            RopeScalingFactor = m.RopeScaling is RopeScaling r && r.Factor != RopeScaling.Llama31.Factor ? r.Factor : null,
        };
    }
}
