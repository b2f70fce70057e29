using System.Text.Json;
using Ckptmpi.Conversion;
using Ckptmpi.Formats.NxD;
using Ckptmpi.Formats.Torch;
using Ckptmpi.Formats.Torch.Pickle;
using Ckptmpi.Parallel;
using Ckptmpi.Tensors;

namespace Ckptmpi.Tests.Conversion.Formats.Nxd;

/// <summary>Runs NxDT conversions in process and compares rank files the way a consumer sees them.</summary>
internal static class NxdTestSupport
{
    /// <summary>The NxDT fixtures kept in the repository (a few cases written by NxD's real converter, and their HF inputs).</summary>
    public static string Fixtures => Path.Combine(TestPaths.Fixtures, "nxdt");

    public static string Convert(string from, string to, string input, string output, NxdOptions options, int ranks = 2, long maxBuffer = 64 << 10)
    {
        var request = new ConvertRequest { From = from, To = to, Input = input, Output = output, MaxBuffer = maxBuffer, FormatOptions = [options] };
        ThreadCommunicator.Run(ranks, comm => ConversionJob.Run(comm, request), TimeSpan.FromSeconds(180));
        return output;
    }

    /// <summary>The converter's flags of a fixture case, as our options.</summary>
    public static (NxdOptions Options, string SourceModel) FixtureCase(string caseDir)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(caseDir, "fixture.json")));
        JsonElement f = doc.RootElement.GetProperty("flags");
        bool Flag(string name) => f.TryGetProperty(name, out JsonElement v) && v.ValueKind == JsonValueKind.True;
        int Int(string name, int fallback) => f.TryGetProperty(name, out JsonElement v) && v.ValueKind == JsonValueKind.Number ? v.GetInt32() : fallback;
        string hw = f.TryGetProperty("hw_backend", out JsonElement h) && h.ValueKind == JsonValueKind.String ? h.GetString()! : "trn1";
        var options = new NxdOptions
        {
            ModelStyle = f.GetProperty("model_style").GetString() == "megatron" ? NxdModelStyle.Megatron : NxdModelStyle.Hf,
            Hardware = hw == "trn2" ? NxdHardware.Trn2 : NxdHardware.Trn1,
            TpSize = Int("tp_size", 1), PpSize = Int("pp_size", 1), KvSizeMultiplier = Int("kv_size_multiplier", 1),
            QkvLinear = Flag("qkv_linear"), FuseQkv = Flag("fuse_qkv"), CoalesceQkv = Flag("coalesce_qkv"), Xser = Flag("xser"),
        };
        return (options, doc.RootElement.GetProperty("source_model").GetString()!);
    }

    /// <summary>Every difference between two model folders of rank files: file names, then per file keys (in order), dtypes, shapes and tensor bytes.</summary>
    public static List<string> CompareRankFolders(string actualDir, string expectedDir, Func<string, string, bool>? skip = null)
    {
        var problems = new List<string>();
        string[] Names(string d) => Directory.EnumerateFiles(d, "*.pt").Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray()!;
        string[] actual = Names(actualDir), expected = Names(expectedDir);
        if (!actual.SequenceEqual(expected)) problems.Add($"files [{string.Join(", ", actual)}], expected [{string.Join(", ", expected)}]");
        foreach (string file in actual.Intersect(expected))
        {
            var a = RankTensors(Path.Combine(actualDir, file));
            // The converter copies every key of its input, including the rotary inv_freq buffers an older transformers
            // saved; our HF reader leaves out such buffers (the model recomputes them and does not load them), so a
            // rank file of ours lacks exactly those keys.
            var e = RankTensors(Path.Combine(expectedDir, file)).Where(x => !x.Key.EndsWith(".rotary_emb.inv_freq", StringComparison.Ordinal)).ToList();
            if (!a.Select(x => x.Key).SequenceEqual(e.Select(x => x.Key)))
            {
                problems.Add($"{file}: keys [{string.Join(", ", a.Select(x => x.Key))}], expected [{string.Join(", ", e.Select(x => x.Key))}]");
                continue;
            }
            for (int i = 0; i < a.Count; i++)
            {
                if (skip?.Invoke(file, a[i].Key) == true) continue;
                if (a[i].DType != e[i].DType || !a[i].Shape.SequenceEqual(e[i].Shape) || !a[i].Stride.SequenceEqual(e[i].Stride))
                    problems.Add($"{file} {a[i].Key}: {a[i].DType} [{string.Join(", ", a[i].Shape)}] stride [{string.Join(", ", a[i].Stride)}], expected {e[i].DType} [{string.Join(", ", e[i].Shape)}] stride [{string.Join(", ", e[i].Stride)}]");
                else if (!a[i].Bytes.AsSpan().SequenceEqual(e[i].Bytes))
                    problems.Add($"{file} {a[i].Key}: bytes differ");
            }
        }
        return problems;
    }

    /// <summary>
    /// What a folder holds, as relative paths (folders end with '/'), sorted; <c>.gitkeep</c> is left out: the fixtures
    /// keep it only because git cannot store the empty folders the converter makes.
    /// </summary>
    public static List<string> Tree(string dir) =>
        Directory.EnumerateFileSystemEntries(dir, "*", SearchOption.AllDirectories)
            .Where(p => Path.GetFileName(p) != ".gitkeep")
            .Select(p => Path.GetRelativePath(dir, p).Replace('\\', '/') + (Directory.Exists(p) ? "/" : ""))
            .Order(StringComparer.Ordinal).ToList();

    /// <summary>The records of a torch.save zip by name inside its folder (<c>data.pkl</c>, <c>data/0</c>, ...), with their bytes.</summary>
    public static Dictionary<string, byte[]> ArchiveRecords(string path)
    {
        using var zip = System.IO.Compression.ZipFile.OpenRead(path);
        var records = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var entry in zip.Entries)
        {
            using var stream = entry.Open();
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            records[entry.FullName[(entry.FullName.IndexOf('/') + 1)..]] = copy.ToArray();
        }
        return records;
    }

    public sealed record Stored(string Key, DType DType, long[] Shape, long[] Stride, byte[] Bytes);

    /// <summary>The tensors of a (small) rank file in key order, with the bytes of their storage (in storage order: a transposed tensor's are its transpose's).</summary>
    public static List<Stored> RankTensors(string path)
    {
        TorchArchive archive = TorchArchive.Open(path);
        var bytes = File.ReadAllBytes(path);
        var result = new List<Stored>();
        foreach (var kv in ((PyDict)archive.Root).Items)
        {
            var t = (PyTensor)kv.Value;
            long start = archive.RangeOf(t.Storage).Start + t.StorageOffset * t.DType.SizeInBytes();
            long end = start + t.ElementCount * t.DType.SizeInBytes();
            result.Add(new Stored(((PyString)kv.Key).Value, t.DType, t.Shape.ToArray(), t.Stride.ToArray(), bytes[(int)start..(int)end]));
        }
        return result;
    }
}
