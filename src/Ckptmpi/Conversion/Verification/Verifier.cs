using Ckptmpi.Conversion.Execution;
using Ckptmpi.Conversion.Manifests;
using Ckptmpi.Parallel;
using Ckptmpi.Tensors.Checksums;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Conversion.Verification;

/// <summary>
/// <c>ckptmpi verify</c> (issue #7): every file of a checkpoint against its manifest (size and CRC-32), and with a
/// source, every canonical tensor value by value; both spread over the ranks by bytes. Returns the problems found,
/// the same list on every rank.
/// </summary>
public static class Verifier
{
    private const int ReadBytes = 8 << 20;

    /// <summary>Checks every file listed in the manifest of <paramref name="outputDir"/>.</summary>
    public static IReadOnlyList<string> CheckFiles(ICommunicator comm, string outputDir)
    {
        Manifest manifest = comm.RunPhase("read manifest", () => Manifest.Read(outputDir));
        var mine = Share(manifest.Outputs.Select(o => (o, o.Size)).ToList(), comm);
        List<string> problems = comm.RunPhase("checksum files", () => mine.Select(o => Check(outputDir, o)).OfType<string>().ToList());
        return comm.AllgatherObjects(problems).SelectMany(p => p).Order(StringComparer.Ordinal).ToList();
    }

    /// <summary>
    /// Reads every canonical tensor from both checkpoints and compares them as the output stores them: bit for bit
    /// where the dtype is unchanged, and the source rounded to nearest even where it changed.
    /// </summary>
    public static IReadOnlyList<string> CheckValues(ICommunicator comm, string outputDir, string sourceDir)
    {
        Manifest manifest = comm.RunPhase("read manifest", () => Manifest.Read(outputDir));
        // The source given may be the conversion's input or any other checkpoint of the same model (e.g. the HF original of a round trip).
        SourceCatalog source = comm.RunPhase("open source", () => Open(FormatRegistry.Probe(sourceDir) ?? manifest.From, sourceDir));
        SourceCatalog output = comm.RunPhase("open output", () => Open(FormatRegistry.Probe(outputDir) ?? manifest.To, outputDir));
        var mine = Share(output.Tensors.Select(t => (t.Name, t.ElementCount)).ToList(), comm).ToHashSet(StringComparer.Ordinal);
        List<string> problems = comm.RunPhase("compare tensors", () =>
        {
            var ignore = output.Tensors.Select(t => t.Name).Concat(source.Tensors.Select(t => t.Name)).Where(n => !mine.Contains(n)).Distinct();
            // Names missing on either side are reported by rank 0 only (ignore lists everything else's tensors).
            if (comm.Rank != 0) ignore = ignore.Where(n => source.Contains(n) && output.Contains(n));
            return CatalogComparer.Compare(source, output, t => t.Pieces.Count > 0 ? t.Pieces[0].StoredDType : t.DType, ignore)
                .Select(m => $"{m.Tensor}: {m.What}").ToList();
        });
        return comm.AllgatherObjects(problems).SelectMany(p => p).Order(StringComparer.Ordinal).ToList();
    }

    private static SourceCatalog Open(string format, string dir) =>
        FormatRegistry.ReaderFor(format).Open(new ConvertRequest { From = format, To = format, Input = dir, Output = "" }).Catalog;

    private static string? Check(string dir, OutputChecksum o)
    {
        string path = OutputFiles.Resolve(dir, o.Path);
        if (!File.Exists(path)) return $"{o.Path}: missing";
        using var h = File.OpenHandle(path);
        long length = RandomAccess.GetLength(h);
        if (length != o.Size) return $"{o.Path}: {length} bytes, manifest says {o.Size}";
        var buffer = new byte[(int)Math.Min(ReadBytes, Math.Max(length, 1))];
        uint crc = 0;
        for (long at = 0; at < length;)
        {
            int n = RandomAccess.Read(h, buffer, at);
            if (n == 0) return $"{o.Path}: shorter than its length while reading";
            crc = Crc32.Append(crc, buffer.AsSpan(0, n));
            at += n;
        }
        string hex = crc.ToString("x8");
        return hex == o.Checksum ? null : $"{o.Path}: crc32 {hex}, manifest says {o.Checksum}";
    }

    /// <summary>This rank's share of the items, balanced by weight (LPT, deterministic).</summary>
    private static List<T> Share<T>(List<(T Item, long Weight)> items, ICommunicator comm)
    {
        var load = new long[comm.Size];
        var mine = new List<T>();
        foreach (var (item, weight) in items.Select((x, i) => (x, i)).OrderByDescending(p => p.x.Weight).ThenBy(p => p.i).Select(p => p.x))
        {
            int r = Array.IndexOf(load, load.Min());
            load[r] += weight;
            if (r == comm.Rank) mine.Add(item);
        }
        return mine;
    }
}
