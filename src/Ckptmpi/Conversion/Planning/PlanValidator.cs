using Ckptmpi.Errors;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Kernels;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Conversion.Planning;

/// <summary>
/// Proves, before a byte is read, that the layout and the catalog fit together (a bug must fail here, not corrupt a file): every output byte
/// is described exactly once, every tensor segment names an existing canonical tensor and an in-range element
/// span in a dtype we can produce, every source tensor's pieces tile its elements, and (when the writer
/// converts the whole model) every source element is written somewhere.
/// </summary>
internal static class PlanValidator
{
    public static void Validate(OutputLayout layout, SourceCatalog catalog, bool requireAllConsumed, IReadOnlyCollection<string>? redundant = null)
    {
        layout.Validate();
        foreach (SourceTensor t in catalog.Tensors) ValidatePieces(catalog, t);

        var consumed = requireAllConsumed ? new Dictionary<string, List<(long, long)>>(StringComparer.Ordinal) : null;
        var viewed = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (OutputFile f in layout.Files)
        {
            ValidateCrcFields(f);
            foreach (OutputSegment s in f.Segments)
            {
                if (s is ViewSegment vs)
                {
                    foreach (var (tensor, elements) in ViewValidator.ValidateSegment(catalog, f, vs))
                        viewed[tensor] = viewed.GetValueOrDefault(tensor) + elements;
                    continue;
                }
                if (s is not TensorSegment ts) continue;
                if (!catalog.Contains(ts.Tensor))
                    throw new UnsupportedCheckpointException(catalog.Root, $"output file '{f.RelativePath}' needs tensor '{ts.Tensor}' at byte {ts.Offset}, which the source does not have ({catalog.Tensors.Count} tensors)");
                SourceTensor src = catalog[ts.Tensor];
                if (ts.FirstElement < 0 || ts.ElementCount < 0 || ts.FirstElement + ts.ElementCount > src.ElementCount)
                    throw new ShapeMismatchException(catalog.Root, ts.Tensor, src.Shape, src.Shape,
                        $"output file '{f.RelativePath}' asks for elements [{ts.FirstElement}, {ts.FirstElement + ts.ElementCount}) of a tensor with {src.ElementCount} elements");
                foreach (SourcePiece p in src.Pieces) CheckCast(catalog.Root, ts.Tensor, p.StoredDType, ts.DType);
                if (consumed is null) continue;
                if (!consumed.TryGetValue(ts.Tensor, out var spans)) consumed[ts.Tensor] = spans = [];
                spans.Add((ts.FirstElement, ts.ElementCount));
            }
        }

        if (consumed is not null) ValidateConsumed(catalog, consumed, viewed, redundant is null ? [] : redundant.ToHashSet(StringComparer.Ordinal));
    }

    /// <summary>Same dtype is a copy; between floating-point types the cast kernel rounds to nearest even; anything else is refused.</summary>
    internal static void CheckCast(string root, string tensor, DType from, DType to)
    {
        if (Cast.IsSupported(from, to)) return;
        throw new UnsupportedCheckpointException(root, $"tensor '{tensor}' is stored as {from} and would be written as {to}; only copies, casts among F32, F16 and BF16, and F64 <-> F32 are supported");
    }

    private static void ValidatePieces(SourceCatalog catalog, SourceTensor t)
    {
        if (t.Pieces.Any(p => !p.IsFlat))
        {
            ViewValidator.ValidatePieces(catalog, t);
            return;
        }
        long at = 0;
        foreach (SourcePiece p in t.Pieces.OrderBy(p => p.FirstElement))
        {
            if (p.FirstElement != at)
                throw new CheckpointFormatException(Path.Combine(catalog.Root, p.File), p.ByteOffset,
                    p.FirstElement > at ? $"elements [{at}, {p.FirstElement}) are stored nowhere" : $"elements from {p.FirstElement} are stored twice", t.Name);
            if (p.ElementCount < 0 || p.ByteOffset < 0)
                throw new CheckpointFormatException(Path.Combine(catalog.Root, p.File), p.ByteOffset, $"piece with {p.ElementCount} elements at byte {p.ByteOffset}", t.Name);
            at = checked(at + p.ElementCount);
        }
        if (at != t.ElementCount)
            throw new CheckpointFormatException(catalog.Root, null, $"the source stores {at} elements but the shape [{string.Join(", ", t.Shape)}] has {t.ElementCount}", t.Name);
    }

    private static void ValidateCrcFields(OutputFile f)
    {
        if (f.Crc32Fields.Count == 0) return;
        var marks = new List<(long Start, long End, string What)>();
        foreach (Crc32Field field in f.Crc32Fields)
        {
            marks.Add((field.Covered.Start, field.Covered.End, $"CRC range {field.Covered}"));
            foreach (long w in field.WriteAt) marks.Add((w, w + 4, $"CRC slot at {w}"));
        }
        marks.Sort((a, b) => a.Start != b.Start ? a.Start.CompareTo(b.Start) : a.End.CompareTo(b.End));
        for (int i = 1; i < marks.Count; i++)
        {
            if (marks[i].Start < marks[i - 1].End)
                throw new InvalidOperationException($"{f.RelativePath}: {marks[i].What} overlaps {marks[i - 1].What}");
        }
        foreach (Crc32Field field in f.Crc32Fields)
        foreach (long w in field.WriteAt)
        {
            OutputSegment s = f.Segments[Segments.IndexAt(f.Segments, w)];
            if (s is not LiteralSegment || w + 4 > s.End)
                throw new InvalidOperationException($"{f.RelativePath}: CRC slot at {w} must lie inside one literal segment");
        }
    }

    /// <summary>
    /// Flat spans must cover each tensor; a tensor read by view parts counts as written when their boxes add up to
    /// its element count (a writer lays each element out once: records of a tensor's boxes do not overlap).
    /// </summary>
    private static void ValidateConsumed(SourceCatalog catalog, Dictionary<string, List<(long First, long Count)>> consumed, Dictionary<string, long> viewed, HashSet<string> redundant)
    {
        var missing = new List<string>();
        foreach (SourceTensor t in catalog.Tensors)
        {
            if (redundant.Contains(t.Name)) continue;
            long covered = 0;
            if (consumed.TryGetValue(t.Name, out var spans))
            {
                spans.Sort();
                foreach ((long first, long count) in spans)
                {
                    if (first > covered) break;
                    covered = Math.Max(covered, first + count);
                }
            }
            if (covered < t.ElementCount && viewed.GetValueOrDefault(t.Name) < t.ElementCount) missing.Add(covered == 0 ? t.Name : $"{t.Name} (from element {covered})");
        }
        if (missing.Count > 0)
            throw new UnsupportedCheckpointException(catalog.Root,
                $"source tensors the output never writes: {string.Join(", ", missing.Take(5))}{(missing.Count > 5 ? $" (+{missing.Count - 5} more)" : "")}; the target format has no place for them");
    }
}
