using Ckptmpi.Errors;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Formats.Meta;

/// <summary>
/// Reads a Meta checkpoint folder (<c>params.json</c> + <c>consolidated.NN.pth</c>) as HF canonical tensors in HF's
/// rotary order: each shard's part of a tensor is one box piece of it (<see cref="MetaShardGeometry"/>), so the
/// concatenation along the split dim and the rotary permutation happen in the copy itself. Duplicated KV heads are
/// read once, every copy checked equal. The HF config.json the facts carry is generated from params.json and
/// the shards. With --dry-run, params.json alone plans (the shards' sizes follow from it).
/// </summary>
internal sealed class MetaReader : IFormatReader
{
    public string Description => "Meta's original Llama layout: params.json + consolidated.NN.pth model-parallel shards (or params.json alone for --dry-run)";

    public string? Probe(string path)
    {
        if (!Directory.Exists(path) || !File.Exists(Path.Combine(path, MetaParams.FileName))) return null;
        int shards = MetaPaths.Shards(path).Count;
        return shards == 0 ? null : $"a Meta Llama checkpoint ({shards} consolidated.NN.pth shard{(shards == 1 ? "" : "s")})";
    }

    public SourceMetadata Open(ReadSettings settings, FormatOptions options)
    {
        var o = (MetaOptions)options;
        string input = settings.Input;
        bool paramsFile = File.Exists(input) && Path.GetFileName(input) == MetaParams.FileName;
        string dir = paramsFile ? Path.GetDirectoryName(Path.GetFullPath(input))! : input;
        string paramsPath = Path.Combine(dir, MetaParams.FileName);
        if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"--input {input}: no such directory");
        if (!File.Exists(paramsPath)) throw new CheckpointFormatException(paramsPath, null, "is missing: a Meta checkpoint folder holds params.json beside its consolidated.NN.pth shards");
        MetaParams p = MetaParams.Parse(InputFiles.ReadText(paramsPath), paramsPath);
        SortedDictionary<int, string> files = MetaPaths.Shards(dir);
        if (files.Count == 0)
        {
            if (settings.DryRun) return ParamsOnly(dir, paramsPath, p, o);
            throw new CheckpointFormatException(Path.Combine(dir, MetaPaths.Shard(0)), null, "is missing: the folder has params.json but no consolidated.NN.pth shard (add --dry-run to plan from params.json alone)");
        }
        MetaShardSet shards = MetaShardSet.Open(dir, files, p);
        MetaModel model = shards.Model(p, o);
        SourceCatalog catalog = shards.Catalog(model, verifyReplicas: !settings.DryRun);
        var inputs = shards.Paths.Append(paramsPath).ToList();
        string tokenizer = Path.Combine(dir, MetaPaths.Tokenizer);
        var facts = new SourceFacts
        {
            Format = MetaFormat.FormatName, ModelConfigJson = MetaHfConfig.ToJson(model, shards.DType),
            SideFiles = File.Exists(tokenizer) ? new Dictionary<string, byte[]> { [MetaPaths.Tokenizer] = ReadTokenizer(tokenizer) } : null,
        };
        if (File.Exists(tokenizer)) inputs.Add(tokenizer);
        Serilog.Log.Information("meta: MP {Mp}, Llama {Version}, {Kv} KV heads{Dup}, embedding split on dim {Split}", shards.Mp, model.Version, model.KvHeads,
            model.KvReplicas > 1 ? $" (each stored {model.KvReplicas} times{(settings.DryRun ? "" : ", copies checked equal")})" : "", model.EmbeddingSplitDim);
        return new SourceMetadata(catalog, facts, inputs);
    }

    /// <summary>Largest tokenizer.model carried (Llama 3's is 2.2 MB, Llama 2's 0.5 MB): it is broadcast to every rank.</summary>
    private const long MaxTokenizerBytes = 64 << 20;

    private static byte[] ReadTokenizer(string path)
    {
        long length = new FileInfo(path).Length;
        if (length == 0 || length > MaxTokenizerBytes)
            throw new CheckpointFormatException(path, null, $"is {length} bytes; a tokenizer.model is between 1 byte and {MaxTokenizerBytes >> 20} MiB");
        return File.ReadAllBytes(path);
    }

    /// <summary>
    /// The canonical tensors params.json implies, in one virtual file that is never read (bf16, Meta's release dtype):
    /// enough to plan and print a conversion. KV heads are params.json's unless --meta-kv-heads names the real ones.
    /// </summary>
    private static SourceMetadata ParamsOnly(string dir, string paramsPath, MetaParams p, MetaOptions o)
    {
        if (p.VocabSize < 1) throw new UnsupportedCheckpointException(paramsPath, "vocab_size is -1 (the tokenizer decides), so params.json alone does not give the embedding's shape");
        MetaModel m = MetaShardSet.ModelOf(p, o, p.VocabSize, MetaModel.EmbeddingSplitFor(o.Version ?? MetaShardSet.VersionOf(p, p.VocabSize)), o.KvHeads is int kv ? MetaShardSet.ReplicasFor(p, kv, paramsPath) : 1);
        var tensors = new List<SourceTensor>();
        long offset = 0;
        foreach (MetaTensor t in MetaTensor.All(m))
        {
            long n = DTypes.ElementCount(t.Shape);
            tensors.Add(new SourceTensor(t.HfName, DType.BF16, t.Shape, [new SourcePiece(0, n, "(params-only)", offset, DType.BF16)]));
            offset = checked(offset + n * 2);
        }
        var facts = new SourceFacts { Format = MetaFormat.FormatName, ModelConfigJson = MetaHfConfig.ToJson(m, DType.BF16) };
        return new SourceMetadata(new SourceCatalog(dir, tensors), facts, [paramsPath]);
    }
}
