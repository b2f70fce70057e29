using System.Text;
using Ckptmpi.Errors;
using Ckptmpi.Model;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Formats.MaxText;

/// <summary>
/// A MaxText parameter checkpoint for <c>load_parameters_path</c>: an Orbax PyTree item directory in zarr v2 without
/// OCDBT, one folder per array (<c>.zarray</c> + chunk files, each chunk file one view record), and
/// <c>_METADATA</c> as the commit marker. The tree comes from the model config and the canonical HF tensors.
/// </summary>
internal sealed class MaxTextWriter : IFormatWriter
{
    public string Description => "MaxText parameters: Orbax zarr v2 (no OCDBT), one folder per array, _METADATA last; --quantize int8 for AQT";

    public bool ConsumesEverything => true;

    public IReadOnlyList<string> InputFiles(FormatOptions options) => [];

    public TargetLayout Layout(WriteInput input, FormatOptions options)
    {
        var o = (MaxTextOptions)options;
        string root = input.Catalog.Root;
        if (input.Facts.ModelConfigJson is not string configJson)
            throw new UnsupportedCheckpointException(root, "--to maxtext needs the model's config.json (the source has none; pass --config)");
        ModelConfig config = ModelConfig.Parse(Encoding.UTF8.GetBytes(configJson), Path.Combine(root, ModelConfigFile.FileName));
        if (config.Family != LlamaFamily.Llama && config.Family != LlamaFamily.Mistral)
            throw new UnsupportedCheckpointException(root, $"--to maxtext writes Llama and Mistral decoders, not {config.Family}");
        if (config.AttentionBias || config.MlpBias)
            throw new UnsupportedCheckpointException(root, "--to maxtext: MaxText's Llama decoder has no attention or MLP biases, and this model has them");
        if (config.TieWordEmbeddings || !input.Catalog.Contains("lm_head.weight"))
            throw new UnsupportedCheckpointException(root, "--to maxtext: the model ties lm_head to the embedding; MaxText's Llama decoder has its own logits_dense kernel");
        if (config.HeadDim % 2 != 0)
            throw new UnsupportedCheckpointException(root, $"--to maxtext: head_dim {config.HeadDim} is odd, so q and k have no rotary pairs");
        DType dtype = input.DType ?? DType.BF16;
        if (dtype is not (DType.BF16 or DType.F32))
            throw new UnsupportedCheckpointException(root, $"--to maxtext writes bf16 (MaxText's weight dtype) or f32 weights, not {dtype.TorchName()}");

        var notes = new List<string>();
        string model;
        if (o.Model is string given)
        {
            model = given;
        }
        else
        {
            (model, string why) = MaxTextModel.Guess(configJson);
            notes.Add($"--maxtext-model not given: using '{model}' ({why}); pass MaxText's model_size to be sure of the rotary order");
        }
        bool interleaved = MaxTextModel.Interleaved(model);
        notes.Add($"MaxText tree for '{model}': {(o.Scanned ? "scanned (layers on axis 1, scan_layers=true)" : "unscanned (scan_layers=false)")}, "
                  + $"q/k in {(interleaved ? "interleaved" : "half-split")} rotary order{(o.Int8 ? ", AQT int8 kernels" : "")}; "
                  + "load with checkpoint_storage_use_ocdbt=false checkpoint_storage_use_zarr3=false");

        List<MaxTextLeaf> leaves = MaxTextTree.Build(config, o.Scanned, interleaved, o.Int8, dtype);
        var files = new List<OutputFile>();
        var valuesRecords = new Dictionary<string, ViewSegment>(StringComparer.Ordinal);
        foreach (MaxTextLeaf leaf in leaves) files.AddRange(Files(leaf, o.ChunkBytes, valuesRecords));
        byte[] metadata = OrbaxMetadata.Json(leaves.Select(l => l.Path).OrderBy(p => OrbaxMetadata.PythonTuple(p), StringComparer.Ordinal));
        files.Add(new OutputFile(OrbaxMetadata.FileName, metadata.Length, [new LiteralSegment(0, metadata)], []) { IsCommitMarker = true });
        return new TargetLayout(new OutputLayout(files), notes);
    }

    /// <summary>The array's <c>.zarray</c> and one file per chunk; a chunk is sized by the bytes it is computed in (fp32 for a quantization).</summary>
    /// <remarks>
    /// A quantization's values chunks are remembered in <paramref name="valuesRecords"/> by file name, and the scales
    /// chunk of the same name is that record with the scales' op: the planner pairs the two files and computes both
    /// from one read of the source.
    /// </remarks>
    private static IEnumerable<OutputFile> Files(MaxTextLeaf leaf, long chunkBytes, Dictionary<string, ViewSegment> valuesRecords)
    {
        int elementBytes = leaf.Op.Reduces ? sizeof(float) : leaf.DType.SizeInBytes();
        long[] chunk = ZarrArray.ChunkShape(leaf.Shape, leaf.SplitOrder, leaf.LayerAxis, Math.Max(1, chunkBytes / elementBytes));
        long[] arrayChunk = leaf.Op.Kind == TensorOpKind.QuantizeScales ? leaf.Op.RecordShape(chunk) : chunk;
        byte[] zarray = ZarrArray.Metadata(leaf.ArrayShape, arrayChunk, leaf.DType);
        string folder = leaf.FolderName;
        yield return new OutputFile($"{folder}/{ZarrArray.MetadataFile}", zarray.Length, [new LiteralSegment(0, zarray)], []);
        foreach ((string name, Tensors.Views.Box box) in ZarrArray.Chunks(leaf.Shape, chunk))
        {
            string path = $"{folder}/{name}";
            if (leaf.ValuesFolder is string values)
            {
                // A scales chunk is computed with the values chunk of the same name: one read of the source for both.
                string with = $"{values}/{name}";
                ViewSegment scales = valuesRecords.Remove(with, out ViewSegment? v) ? v with { DType = leaf.DType, Op = leaf.Op } : leaf.Record(box);
                yield return new OutputFile(path, scales.Length, [scales], []) { WrittenWith = with };
                continue;
            }
            ViewSegment record = leaf.Record(box);
            if (leaf.Op.Kind == TensorOpKind.QuantizeValues) valuesRecords[path] = record;
            yield return new OutputFile(path, record.Length, [record], []);
        }
    }
}
