using Ckptmpi.Errors;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Formats.Safetensors;

/// <summary>
/// A Hugging Face safetensors checkpoint: a directory with <c>model.safetensors</c>, or shards
/// listed by <c>model.safetensors.index.json</c>, or a single <c>.safetensors</c> file. Loading reads only headers and
/// proves that every tensor is found exactly once: in the shard the index names, in no other file.
/// </summary>
public sealed class SafetensorsCheckpoint
{
    private SafetensorsCheckpoint(string root, IReadOnlyList<ShardHeader> shards, SafetensorsIndex? index, string? configPath)
    {
        Root = root;
        Shards = shards;
        Index = index;
        ConfigPath = configPath;
    }

    /// <summary>The directory the shard paths are relative to.</summary>
    public string Root { get; }

    /// <summary>Shard files, sorted by name, each with its validated header.</summary>
    public IReadOnlyList<ShardHeader> Shards { get; }

    public SafetensorsIndex? Index { get; }

    /// <summary><c>config.json</c> beside the weights, when present.</summary>
    public string? ConfigPath { get; }

    /// <summary>Sum of tensor bytes over all shards (what <c>metadata.total_size</c> should say).</summary>
    public long TotalTensorBytes => Shards.Sum(s => s.Header.Tensors.Sum(t => t.ByteLength));

    /// <summary>One shard: its path relative to <see cref="Root"/> and its header.</summary>
    public sealed record ShardHeader(string RelativePath, SafetensorsHeader Header);

    /// <summary>Loads the checkpoint at <paramref name="path"/> and describes it as a <see cref="SourceCatalog"/>.</summary>
    /// <exception cref="CheckpointFormatException">A header or the index is malformed, or a tensor is missing, repeated, or unlisted.</exception>
    /// <exception cref="UnsupportedCheckpointException">A dtype or tensor layout ckptmpi does not read.</exception>
    /// <remarks>A directory without safetensors files but with <c>pytorch_model*.bin</c> is read by <see cref="PytorchBinCheckpoint"/>.</remarks>
    public static SourceCatalog Open(string path)
    {
        if (Directory.Exists(path) && !Directory.EnumerateFiles(path, "*" + SafetensorsFormat.FileExtension).Any() && PytorchBinCheckpoint.IsPresent(path))
            return PytorchBinCheckpoint.Open(path);
        return Load(path).ToCatalog();
    }

    /// <summary>Reads the headers (and index) of the checkpoint at <paramref name="path"/>: a directory or a <c>.safetensors</c> file.</summary>
    public static SafetensorsCheckpoint Load(string path)
    {
        // Naming the index means its directory.
        if (File.Exists(path) && System.IO.Path.GetFileName(path) == SafetensorsFormat.IndexFileName)
            path = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!;
        if (File.Exists(path))
        {
            string root = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!;
            return new SafetensorsCheckpoint(root, [new(System.IO.Path.GetFileName(path), SafetensorsHeader.Read(path))], null, FindConfig(root));
        }
        if (!Directory.Exists(path)) throw new DirectoryNotFoundException($"{path}: no such file or directory");
        string dir = System.IO.Path.GetFullPath(path);
        string indexPath = System.IO.Path.Combine(dir, SafetensorsFormat.IndexFileName);
        List<string> files = Directory.EnumerateFiles(dir, "*" + SafetensorsFormat.FileExtension)
            .Select(f => System.IO.Path.GetFileName(f)).Order(StringComparer.Ordinal).ToList();
        if (File.Exists(indexPath)) return LoadIndexed(dir, indexPath, files);
        if (files.Count == 0)
        {
            if (Directory.EnumerateFiles(dir, "pytorch_model*.bin").Any())
                throw new UnsupportedCheckpointException(dir, $"no *.safetensors here, only pytorch_model*.bin; legacy checkpoints are read when {PytorchBinCheckpoint.SingleFileName} or {PytorchBinCheckpoint.IndexFileName} is present (convert, or inspect the .bin files)");
            throw new CheckpointFormatException(dir, null, $"no {SafetensorsFormat.SingleFileName}, {SafetensorsFormat.IndexFileName} or other *.safetensors file in the directory");
        }
        // No index: every *.safetensors file belongs to the checkpoint, and no tensor may appear in two of them.
        var shards = files.Select(f => new ShardHeader(f, SafetensorsHeader.Read(System.IO.Path.Combine(dir, f)))).ToList();
        var owner = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (ShardHeader s in shards)
        {
            foreach (SafetensorsTensorInfo t in s.Header.Tensors)
            {
                if (!owner.TryAdd(t.Name, s.RelativePath))
                    throw new CheckpointFormatException(System.IO.Path.Combine(dir, s.RelativePath), t.FileRange.Start, $"the tensor is also in {owner[t.Name]}; a tensor may be in only one file (without an index every *.safetensors file in the directory is read)", t.Name);
            }
        }
        return new SafetensorsCheckpoint(dir, shards, null, FindConfig(dir));
    }

    private static SafetensorsCheckpoint LoadIndexed(string dir, string indexPath, List<string> filesInDir)
    {
        SafetensorsIndex index = SafetensorsIndex.Read(CheckpointPaths.Resolve(dir, SafetensorsFormat.IndexFileName, indexPath));
        var shardNames = index.WeightMap.Select(kv => kv.Value).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        var shards = new List<ShardHeader>(shardNames.Count);
        foreach (string name in shardNames)
            shards.Add(new ShardHeader(name, SafetensorsHeader.Read(CheckpointPaths.Resolve(dir, name, indexPath))));

        var listed = index.WeightMap.ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
        var owner = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (ShardHeader s in shards)
        {
            foreach (SafetensorsTensorInfo t in s.Header.Tensors)
            {
                if (!owner.TryAdd(t.Name, s.RelativePath))
                    throw new CheckpointFormatException(indexPath, null, $"the tensor is in both {owner[t.Name]} and {s.RelativePath}", t.Name);
                if (!listed.TryGetValue(t.Name, out string? where))
                    throw new CheckpointFormatException(indexPath, null, $"{s.RelativePath} holds the tensor but weight_map does not list it", t.Name);
                if (where != s.RelativePath)
                    throw new CheckpointFormatException(indexPath, null, $"weight_map places the tensor in {where} but it is in {s.RelativePath}", t.Name);
            }
        }
        foreach ((string name, string shard) in index.WeightMap)
        {
            if (!owner.ContainsKey(name))
                throw new CheckpointFormatException(indexPath, null, $"weight_map places the tensor in {shard}, which does not hold it", name);
        }
        var named = new HashSet<string>(shardNames, StringComparer.Ordinal);
        foreach (string extra in filesInDir.Where(f => !named.Contains(f)))
        {
            SafetensorsHeader h = SafetensorsHeader.Read(System.IO.Path.Combine(dir, extra));
            if (h.Tensors.Count > 0)
                throw new CheckpointFormatException(System.IO.Path.Combine(dir, extra), null,
                    $"this file holds {h.Tensors.Count} tensors (e.g. '{h.Tensors[0].Name}') but {SafetensorsFormat.IndexFileName} does not name it; move it out of the checkpoint directory");
        }
        var checkpoint = new SafetensorsCheckpoint(dir, shards, index, FindConfig(dir));
        if (index.TotalSize is long declared && declared != checkpoint.TotalTensorBytes)
            Serilog.Log.Warning("{Index}: metadata.total_size is {Declared} but the shards hold {Actual} bytes of tensors; using the shards", indexPath, declared, checkpoint.TotalTensorBytes);
        return checkpoint;
    }

    private static string? FindConfig(string dir)
    {
        string config = System.IO.Path.Combine(dir, SafetensorsFormat.ConfigFileName);
        // Read like a shard: a config.json that is a link out of the checkpoint is refused, not followed and copied.
        return File.Exists(config) ? CheckpointPaths.Resolve(dir, SafetensorsFormat.ConfigFileName, config) : null;
    }

    /// <summary>
    /// One <see cref="SourceTensor"/> per tensor with a single <see cref="SourcePiece"/>, ordered by shard (by name) then
    /// by offset, the order in which a sequential reader meets them.
    /// </summary>
    public SourceCatalog ToCatalog()
    {
        var tensors = new List<SourceTensor>();
        foreach (ShardHeader s in Shards)
        {
            foreach (SafetensorsTensorInfo t in s.Header.Tensors)
                tensors.Add(new SourceTensor(t.Name, t.DType, t.Shape, [new SourcePiece(0, t.ElementCount, s.RelativePath, t.FileRange.Start, t.DType)]));
        }
        return new SourceCatalog(Root, tensors);
    }
}
