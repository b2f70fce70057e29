using Ckptmpi.Errors;
using Ckptmpi.Formats.Torch;
using Ckptmpi.Formats.Torch.Pickle;
using Ckptmpi.Model;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;
using Ckptmpi.Tensors.Views;

namespace Ckptmpi.Formats.NxD;

/// <summary>
/// Writes what NxDT's checkpoint_converter.py writes with <c>--convert_from_full_state</c>: one torch.save dict per
/// (tp, pp) rank under <c>model/</c>, every tensor a view record of the canonical tensors (row or column slices,
/// fused QKV as concatenations, KV heads replicated), plus config.json beside <c>model/</c> for the way back. With
/// <c>--xser</c> each rank file gets the empty <c>&lt;file&gt;.tensors/</c> folder the converter's xser save leaves;
/// with <c>--xser reference</c> the rank files are in the by-reference form of <see cref="NxdXserLayout"/>.
/// </summary>
internal sealed class NxdWriter : IFormatWriter
{
    public string Description => "NeuronX Distributed Training: model/dp_rank_00_tp_rank_TT_pp_rank_PP.pt per tp/pp rank (hf or megatron style), config.json beside";

    public bool ConsumesEverything => true;

    public IReadOnlyList<string> InputFiles(FormatOptions options) => ((NxdOptions)options).Config is string c ? [c] : [];

    public TargetLayout Layout(WriteInput input, FormatOptions options)
    {
        var o = (NxdOptions)options;
        string configPath;
        string configText;
        if (o.Config is string given)
        {
            configPath = given;
            configText = input.Files[given];
        }
        else
        {
            configText = input.Facts.ModelConfigJson
                ?? throw new UnsupportedCheckpointException(input.Catalog.Root, "the source has no config.json and no --config was given; NxDT's layout depends on the model's heads and layers");
            configPath = Path.Combine(input.Catalog.Root, ModelConfigFile.FileName);
        }
        ModelConfig config = ModelConfig.Parse(System.Text.Encoding.UTF8.GetBytes(configText), configPath);
        SourceCatalog catalog = input.Catalog;
        bool invFreq = catalog.Tensors.Any(t => t.Name.EndsWith(".rotary_emb.inv_freq", StringComparison.Ordinal));
        NxdShardMap map = NxdShardMap.Build(config, o, o.TpSize ?? 1, o.PpSize ?? 1, invFreq, catalog.Contains("lm_head.weight"));
        CheckCatalog(map, catalog, configPath);

        var files = new List<OutputFile>(map.Files.Count + 1);
        var folders = new List<string>();
        DType? dtype = input.DType ?? input.Facts.PreferredDType;
        foreach (NxdRankFile rank in map.Files)
        {
            if (o.Xser && o.XserByReference)
            {
                files.AddRange(NxdXserLayout.RankFiles(rank, catalog, dtype));
                continue;
            }
            files.Add(RankFile(rank, catalog, dtype));
            // torch_xla's xser save of CPU tensors (the converter's --save_xser) keeps every tensor inline and leaves
            // the folder it would put device tensors in, empty: the same rank file beside an empty <file>.tensors/.
            if (o.Xser) folders.Add(NxdXser.TensorFolder(rank.RelativePath));
        }
        var layout = new OutputLayout(files);
        // The next conversion (back to HF) finds the model's config beside model/, as it would beside HF weights.
        var facts = input.Facts with { ModelConfigJson = configText };
        return new TargetLayout(ModelConfigFile.AppendTo(layout, facts) with { Directories = folders });
    }

    /// <summary>Every source tensor must be written and have the shape the config implies (a contradiction names config.json).</summary>
    private static void CheckCatalog(NxdShardMap map, SourceCatalog catalog, string configPath)
    {
        var used = new HashSet<string>(map.Files.SelectMany(f => f.Entries).SelectMany(e => e.Parts).Select(p => p.Tensor), StringComparer.Ordinal);
        foreach (CanonicalTensor expected in map.Config.CanonicalTensors())
        {
            if (!catalog.Contains(expected.Name))
                throw new UnsupportedCheckpointException(catalog.Root, $"the source has no tensor '{expected.Name}', which {configPath} implies");
            SourceTensor actual = catalog[expected.Name];
            if (!actual.Shape.SequenceEqual(expected.Shape))
                throw new ShapeMismatchException(configPath, expected.Name, expected.Shape, actual.Shape, "the source tensor contradicts config.json");
        }
        foreach (SourceTensor t in catalog.Tensors)
        {
            if (!used.Contains(t.Name))
                throw new UnsupportedCheckpointException(catalog.Root, $"tensor '{t.Name}' has no place in an NxDT Llama checkpoint");
        }
    }

    private static OutputFile RankFile(NxdRankFile rank, SourceCatalog catalog, DType? dtype)
    {
        var root = new PyDict();
        var byStorage = new Dictionary<string, (NxdEntry Entry, DType DType)>(StringComparer.Ordinal);
        foreach (NxdEntry e in rank.Entries)
        {
            DType d = DTypeOf(e, catalog, dtype);
            string key = byStorage.Count.ToString(System.Globalization.CultureInfo.InvariantCulture);
            root.Add(e.Key, Tensor(e, new TorchStorage(key, d, DTypes.ElementCount(e.Shape))));
            byStorage[key] = (e, d);
        }
        TorchArchivePlan plan = TorchArchiveLayout.Plan(root, TorchArchiveLayout.ArchiveNameFor(rank.RelativePath));
        return plan.ToOutputFile(rank.RelativePath, (storage, range) =>
        {
            var (entry, d) = byStorage[storage.Key];
            return storage.ElementCount == 0 ? [] : [Record(entry, d, catalog, range.Start)];
        });
    }

    /// <summary>The dtype of a rank tensor: --dtype (or the source's preferred one) for weights; the fp32 rotary buffers keep theirs, as NxDT keeps them.</summary>
    internal static DType DTypeOf(NxdEntry e, SourceCatalog catalog, DType? dtype)
    {
        DType source = catalog[e.Parts[0].Tensor].DType;
        return dtype is DType want && !e.Key.EndsWith("inv_freq", StringComparison.Ordinal) ? want : source;
    }

    /// <summary>The pickled tensor of an entry over <paramref name="storage"/>: row-major, or column-major when the converter leaves it transposed.</summary>
    internal static PyTensor Tensor(NxdEntry e, TorchStorage storage)
    {
        long[] strides = e.Transposed ? [1, e.Shape[0]] : PyTensor.ContiguousStrides(e.Shape);
        return new PyTensor(storage, 0, e.Shape, strides);
    }

    /// <summary>The view record that fills an entry's storage at <paramref name="offset"/>.</summary>
    internal static ViewSegment Record(NxdEntry entry, DType d, SourceCatalog catalog, long offset)
    {
        if (entry.Transposed)
        {
            // The storage is the transpose, row-major: record axis 0 is the tensor's axis 1.
            NxdPart only = entry.Parts.Single();
            long[] split = catalog[only.Tensor].Shape.ToArray();
            long[] shape = [entry.Shape[1], entry.Shape[0]];
            return new ViewSegment(offset, shape, d, TensorOp.Copy, [new ViewPart(only.Tensor, split, only.Box, [1, 0], Box.Full(shape))]);
        }
        return new ViewSegment(offset, entry.Shape, d, TensorOp.Copy, entry.Parts.Select(p => Part(p, entry, catalog)).ToList());
    }

    private static ViewPart Part(NxdPart p, NxdEntry entry, SourceCatalog catalog)
    {
        long[] split = catalog[p.Tensor].Shape.ToArray();
        int rank = split.Length;
        var destStart = new long[rank];
        destStart[0] = p.DestRow;
        var destination = new Box(destStart, p.Box.Length.ToArray());
        if (!destination.FitsIn(entry.Shape)) throw new InvalidOperationException($"{entry.Key}: part {p} does not fit [{string.Join(", ", entry.Shape)}]");
        return new ViewPart(p.Tensor, split, p.Box, Enumerable.Range(0, rank).ToArray(), destination);
    }
}
