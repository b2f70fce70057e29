using Ckptmpi.Errors;
using Ckptmpi.Formats.Torch;
using Ckptmpi.Formats.Torch.Pickle;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Formats.Safetensors;

/// <summary>
/// A legacy Hugging Face checkpoint: <c>pytorch_model.bin</c>, or shards listed by
/// <c>pytorch_model.bin.index.json</c> (the safetensors index schema), each a <c>torch.save</c> of a flat name -> tensor
/// dict. Only zip directories and pickles are read; every tensor must be contiguous and found exactly once.
/// Tied weights that share a storage become two tensors over the same bytes.
/// </summary>
public static class PytorchBinCheckpoint
{
    public const string SingleFileName = "pytorch_model.bin";
    public const string IndexFileName = "pytorch_model.bin.index.json";

    /// <summary>Whether <paramref name="dir"/> looks like a legacy .bin checkpoint.</summary>
    public static bool IsPresent(string dir) =>
        File.Exists(Path.Combine(dir, IndexFileName)) || File.Exists(Path.Combine(dir, SingleFileName));

    /// <exception cref="CheckpointFormatException">A malformed archive or index, a value that is not a tensor, or a tensor missing, repeated or unlisted.</exception>
    /// <exception cref="UnsupportedCheckpointException">A non-contiguous tensor or a storage dtype we do not read.</exception>
    public static SourceCatalog Open(string dir) => Open(dir, null);

    /// <summary>One torch.save'd state dict given by path (<c>model.pt</c>, <c>consolidated.00.pth</c>, a <c>.bin</c>), whatever its name.</summary>
    public static SourceCatalog OpenFile(string path) => Open(Path.GetDirectoryName(Path.GetFullPath(path))!, Path.GetFileName(path));

    /// <summary>Whether <paramref name="path"/> names a single state-dict file by its extension.</summary>
    public static bool IsStateDictFile(string path) =>
        File.Exists(path) && (path.EndsWith(".bin", StringComparison.Ordinal) || path.EndsWith(".pt", StringComparison.Ordinal) || path.EndsWith(".pth", StringComparison.Ordinal));

    private static SourceCatalog Open(string dir, string? single)
    {
        dir = Path.GetFullPath(dir);
        string indexPath = Path.Combine(dir, IndexFileName);
        SafetensorsIndex? index = single is null && File.Exists(indexPath) ? SafetensorsIndex.Read(indexPath) : null;
        List<string> files = index is null
            ? [single ?? SingleFileName]
            : index.WeightMap.Select(kv => kv.Value).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        string errorPath = index is null ? Path.Combine(dir, files[0]) : indexPath;

        var owner = new Dictionary<string, string>(StringComparer.Ordinal);
        var tensors = new List<(SourceTensor Tensor, long Offset)>();
        foreach (string file in files)
        {
            string path = index is null ? Path.Combine(dir, file) : CheckpointPaths.Resolve(dir, file, indexPath);
            TorchArchive archive = TorchArchive.Open(path);
            if (archive.Root is not PyDict dict)
                throw new CheckpointFormatException(path, null, $"the pickle holds {archive.Root.GetType().Name}, expected a dict of tensor name to tensor");
            var inFile = new List<(SourceTensor, long)>();
            foreach (var (key, value) in dict.Items)
            {
                if (key is not PyString { Value: var name })
                    throw new CheckpointFormatException(path, null, $"a state-dict key is {key.GetType().Name}, expected a string");
                if (value is not PyTensor t)
                    throw new CheckpointFormatException(path, null, $"the value is {value.GetType().Name}, expected a tensor", name);
                if (!owner.TryAdd(name, file))
                    throw new CheckpointFormatException(errorPath, null, $"the tensor is in both {owner[name]} and {file}", name);
                if (!t.IsContiguous)
                    throw new UnsupportedCheckpointException(path, $"tensor '{name}' is not contiguous (shape [{string.Join(", ", t.Shape)}], stride [{string.Join(", ", t.Stride)}]); save it with .contiguous()");
                ByteRange inRecord = t.ContiguousBytes();
                if (inRecord.End > t.Storage.ByteLength)
                    throw new CheckpointFormatException(path, archive.RangeOf(t.Storage).Start, $"elements [{t.StorageOffset}, {t.StorageOffset + t.ElementCount}) run past storage '{t.Storage.Key}' ({t.Storage.ElementCount} elements)", name);
                long offset = archive.RangeOf(t).Start;
                inFile.Add((new SourceTensor(name, t.DType, t.Shape.ToArray(), [new SourcePiece(0, t.ElementCount, file, offset, t.DType)]), offset));
            }
            tensors.AddRange(inFile.OrderBy(x => x.Item2));
        }
        if (index is not null)
        {
            foreach ((string name, string shard) in index.WeightMap)
            {
                if (!owner.TryGetValue(name, out string? actual))
                    throw new CheckpointFormatException(indexPath, null, $"weight_map places the tensor in {shard}, which does not hold it", name);
                if (actual != shard)
                    throw new CheckpointFormatException(indexPath, null, $"weight_map places the tensor in {shard} but it is in {actual}", name);
            }
            var listed = index.WeightMap.Select(kv => kv.Key).ToHashSet(StringComparer.Ordinal);
            string? unlisted = owner.Keys.FirstOrDefault(n => !listed.Contains(n));
            if (unlisted is not null)
                throw new CheckpointFormatException(indexPath, null, $"{owner[unlisted]} holds the tensor but weight_map does not list it", unlisted);
            var named = files.ToHashSet(StringComparer.Ordinal);
            string? extra = Directory.EnumerateFiles(dir, "pytorch_model*.bin").Select(Path.GetFileName).FirstOrDefault(f => !named.Contains(f!));
            if (extra is not null)
                throw new CheckpointFormatException(Path.Combine(dir, extra), null, $"{IndexFileName} does not name this file; move it out of the checkpoint directory");
        }
        return new SourceCatalog(dir, tensors.Select(t => t.Tensor).ToList());
    }
}
