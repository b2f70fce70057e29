using Ckptmpi.Conversion.Manifests;
using Ckptmpi.Formats;
using Ckptmpi.Parallel;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Conversion.Verify;

/// <summary>
/// <c>ckptmpi verify OUT_DIR --against SOURCE_DIR</c>: both checkpoints are read through the format
/// readers of <c>convert</c> (rank 0 opens them and broadcasts the catalogs), the tensors are dealt to the ranks by
/// bytes, and each rank streams its tensors from both sides in chunks of at most <c>bufferBytes</c> and compares
/// them with <see cref="TensorComparison"/>: bit for bit in the output's dtype, the source cast to it with the
/// conversion's own kernels (exact round-to-nearest-even where the dtype narrowed, exact where it widened).
/// </summary>
public static class ValueVerifier
{
    /// <summary>The formats of both sides; null: from the output's manifest, or detected from the files.</summary>
    public sealed record Formats(string? Source = null, string? Output = null, string? SourceTag = null, string? OutputTag = null);

    public sealed record Result(IReadOnlyList<VerifyProblem> Problems, int Tensors, long Elements, string SourceFormat, string OutputFormat, double Seconds);

    public static Result Run(ICommunicator comm, string outputDir, string sourceDir, Formats? formats = null, int bufferBytes = 16 << 20)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        formats ??= new Formats();
        string[] names = comm.RunPhase("detect formats", () => comm.Rank == 0 ? ResolveFormats(outputDir, sourceDir, formats) : []);
        names = comm.BcastObject(names, root: 0);
        byte[]? sourceMsg = comm.RunPhase("open source", () => comm.Rank == 0 ? Open(names[0], sourceDir, formats.SourceTag).Serialize() : null);
        SourceCatalog source = JobInputs.Deserialize(comm.BcastBytes(sourceMsg, 0)).Catalog;
        byte[]? outputMsg = comm.RunPhase("open output", () => comm.Rank == 0 ? Open(names[1], outputDir, formats.OutputTag).Serialize() : null);
        SourceCatalog output = JobInputs.Deserialize(comm.BcastBytes(outputMsg, 0)).Catalog;

        var problems = new List<VerifyProblem>();
        foreach (SourceTensor s in source.Tensors.Where(t => !output.Contains(t.Name)))
            problems.Add(new VerifyProblem(VerifyProblemKind.TensorMissing, s.Name, $"in the source ({Shape(s.Shape)} {s.DType.ToString().ToLowerInvariant()}) but not in the output"));
        foreach (SourceTensor o in output.Tensors.Where(t => !source.Contains(t.Name)))
            problems.Add(new VerifyProblem(VerifyProblemKind.TensorExtra, o.Name, $"in the output ({Shape(o.Shape)}) but not in the source"));
        var pairs = new List<(SourceTensor S, SourceTensor O)>();
        foreach (SourceTensor o in output.Tensors.Where(t => source.Contains(t.Name)))
        {
            SourceTensor s = source[o.Name];
            if (s.Shape.SequenceEqual(o.Shape)) pairs.Add((s, o));
            else problems.Add(new VerifyProblem(VerifyProblemKind.Shape, o.Name, $"output shape {Shape(o.Shape)}, source shape {Shape(s.Shape)}"));
        }

        // Deal the tensors to ranks by bytes, largest first to the least loaded (the same on every rank).
        var load = new long[comm.Size];
        var mine = new List<(SourceTensor S, SourceTensor O)>();
        foreach (var p in pairs.OrderByDescending(p => p.O.ElementCount).ThenBy(p => p.O.Name, StringComparer.Ordinal))
        {
            int r = Array.IndexOf(load, load.Min());
            load[r] += Math.Max(1, p.O.ElementCount);
            if (r == comm.Rank) mine.Add(p);
        }
        List<VerifyProblem> found = comm.RunPhase("compare tensors", () =>
        {
            var list = new List<VerifyProblem>();
            using var left = new TensorReader(source);
            using var right = new TensorReader(output);
            foreach (var (s, o) in mine)
            {
                if (TensorComparison.FirstMismatch(left, s, right, o, CompareAs(o), bufferBytes) is string detail)
                    list.Add(new VerifyProblem(VerifyProblemKind.Value, o.Name, detail));
            }
            return list;
        });
        problems.AddRange(comm.AllgatherObjects(found).SelectMany(x => x));
        problems.Sort((a, b) => string.CompareOrdinal(a.Subject, b.Subject) is int c and not 0 ? c : a.Kind.CompareTo(b.Kind));
        return new Result(problems, pairs.Count, pairs.Sum(p => p.O.ElementCount), names[0], names[1], clock.Elapsed.TotalSeconds);
    }

    /// <summary>The dtype the output stores the tensor in (a ZeRO reader may expose fp16 buffers as logical fp32).</summary>
    private static DType CompareAs(SourceTensor output) => output.Pieces.Count > 0 ? output.Pieces[0].StoredDType : output.DType;

    private static JobInputs Open(string format, string dir, string? tag)
    {
        ICheckpointFormat f = FormatRegistry.ReaderFor(format);
        SourceMetadata read = f.Reader!.Open(new ReadSettings(dir), f.Defaults(tag));
        return new JobInputs(read.Catalog, read.Facts);
    }

    /// <summary>
    /// [source format, output format]: as given, else recognised on disk by the one reader whose probe knows it (the
    /// source may be any checkpoint of the model, e.g. the HF original of a round trip), else the manifest's from/to.
    /// </summary>
    private static string[] ResolveFormats(string outputDir, string sourceDir, Formats f)
    {
        Manifest? manifest = File.Exists(Path.Combine(outputDir, Manifest.FileName)) ? Manifest.Read(outputDir) : null;
        static string? Probed(string dir) => FormatRegistry.Probe(dir) is [var one] ? one.Format.Name : null;
        return [f.Source ?? Probed(sourceDir) ?? manifest?.From ?? "hf", f.Output ?? Probed(outputDir) ?? manifest?.To ?? "hf"];
    }

    private static string Shape(IReadOnlyList<long> shape) => $"[{string.Join(", ", shape)}]";
}
