using System.Text.Json.Nodes;
using Ckptmpi.Conversion;
using Ckptmpi.Conversion.Verify;
using Ckptmpi.Formats;
using Ckptmpi.Formats.Meta;
using Ckptmpi.Formats.Torch;
using Ckptmpi.Parallel;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Tests.Formats.Meta;

/// <summary>
/// The Meta-layout fixtures (tests/fixtures/meta, written by Meta's own resharder and transformers' conversion script)
/// and what the Meta tests share: running a conversion on thread ranks and comparing shards tensor by tensor.
/// </summary>
public static class MetaFixtures
{
    /// <summary>A fixture folder of the repository's copy (tests/fixtures/meta).</summary>
    public static string Dir(string name) => Path.Combine(TestPaths.Fixtures, "meta", name);

    public static ConversionJob.Outcome[] Convert(string from, string to, string input, string output, int ranks = 2, MetaOptions? options = null, bool dryRun = false) =>
        ThreadCommunicator.Run(ranks, comm => ConversionJob.Run(comm, new ConvertRequest
        {
            From = from, To = to, Input = input, Output = output, FormatOptions = options is null ? [] : [options], MaxBuffer = 64 << 10, DryRun = dryRun,
        }), TimeSpan.FromSeconds(120));

    /// <summary>One torch.save file's state dict as a catalog (its own tensors, read with our torch reader).</summary>
    public static SourceCatalog Shard(string path) =>
        new(Path.GetDirectoryName(path)!, TorchStateDict.ToSourceTensors(TorchArchive.Open(path), Path.GetFileName(path)));

    /// <summary>Every tensor of every shard equal bit for bit, in the same key order; the list of differences.</summary>
    public static List<string> CompareShards(string expectedDir, string actualDir)
    {
        var problems = new List<string>();
        var expected = MetaPaths.Shards(expectedDir);
        var actual = MetaPaths.Shards(actualDir);
        if (!expected.Keys.SequenceEqual(actual.Keys)) return [$"shards [{string.Join(", ", actual.Values)}], expected [{string.Join(", ", expected.Values)}]"];
        foreach (var (rank, name) in expected)
        {
            SourceCatalog e = Shard(Path.Combine(expectedDir, name)), a = Shard(Path.Combine(actualDir, actual[rank]));
            if (!e.Tensors.Select(t => t.Name).SequenceEqual(a.Tensors.Select(t => t.Name))) problems.Add($"{name}: key order differs");
            problems.AddRange(CatalogComparer.Compare(e, a).Select(m => $"{name}: {m.Tensor}: {m.What}"));
        }
        return problems;
    }

    /// <summary>Every key of the reference config.json equal in ours, except the dtype label transformers' script gets wrong.</summary>
    public static List<string> CompareConfig(string expectedPath, string actualPath)
    {
        var e = JsonNode.Parse(File.ReadAllText(expectedPath))!.AsObject();
        var a = JsonNode.Parse(File.ReadAllText(actualPath))!.AsObject();
        var problems = new List<string>();
        foreach (var (key, value) in e)
        {
            if (key == "torch_dtype") continue;
            if (!a.TryGetPropertyValue(key, out JsonNode? mine)) problems.Add($"{key}: missing");
            else if (!JsonNode.DeepEquals(value, mine) && !(value is JsonValue && mine is JsonValue && NumbersEqual(value, mine))) problems.Add($"{key}: {mine?.ToJsonString()}, expected {value?.ToJsonString()}");
        }
        foreach (var (key, _) in a)
        {
            if (!e.ContainsKey(key)) problems.Add($"{key}: not in the reference");
        }
        return problems;
    }

    private static bool NumbersEqual(JsonNode a, JsonNode b) =>
        a.GetValueKind() == System.Text.Json.JsonValueKind.Number && b.GetValueKind() == System.Text.Json.JsonValueKind.Number && a.GetValue<double>() == b.GetValue<double>();

    public static string Copy(string source, string into)
    {
        Directory.CreateDirectory(into);
        foreach (string f in Directory.GetFiles(source)) File.Copy(f, Path.Combine(into, Path.GetFileName(f)));
        foreach (string f in Directory.GetFiles(into)) File.SetAttributes(f, FileAttributes.Normal);
        return into;
    }

    /// <summary>The byte range of one tensor of a shard file.</summary>
    public static ByteRange RangeOf(string shardPath, string tensor)
    {
        TorchArchive a = TorchArchive.Open(shardPath);
        return a.RangeOf(TorchStateDict.Flatten(a.Root).Single(x => x.Name == tensor).Tensor);
    }
}
