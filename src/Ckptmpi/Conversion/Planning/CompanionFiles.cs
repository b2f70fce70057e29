using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Conversion.Planning;

/// <summary>
/// The files a layout computes in another file's buffer pass (<see cref="OutputFile.WrittenWith"/>): a quantization's
/// scales, computed from the same gathered values as its int8 values, so the source is read once for both. Proves
/// that each such pair really is one record seen twice (same shape, parts and arithmetic): a mismatch is a writer bug
/// and must fail the plan, never write scales of other data.
/// </summary>
internal static class CompanionFiles
{
    /// <summary>For each file, the files its chunk also writes (most have none).</summary>
    public static int[][] Of(IReadOnlyList<OutputFile> files)
    {
        var result = new List<int>[files.Count];
        Dictionary<string, int>? index = null;
        for (int f = 0; f < files.Count; f++)
        {
            if (files[f].WrittenWith is not string path) continue;
            index ??= files.Select((x, i) => (x.RelativePath, i)).ToDictionary(p => p.RelativePath, p => p.i, StringComparer.Ordinal);
            if (!index.TryGetValue(path, out int values))
                throw new InvalidOperationException($"plan bug: {files[f].RelativePath} is written with {path}, which the layout does not have");
            Check(files[f], files[values]);
            (result[values] ??= []).Add(f);
        }
        return result.Select(l => l?.ToArray() ?? []).ToArray();
    }

    /// <summary>The single record of <paramref name="values"/> (int8 values) and of <paramref name="scales"/> (their scales) are the same quantization.</summary>
    private static void Check(OutputFile scales, OutputFile values)
    {
        string why = $"plan bug: {scales.RelativePath} cannot be written with {values.RelativePath}: ";
        if (scales.IsCommitMarker || values.IsCommitMarker || values.WrittenWith is not null || scales.Crc32Fields.Count > 0 || values.Crc32Fields.Count > 0)
            throw new InvalidOperationException(why + "only plain data files pair up");
        if (scales.Segments is not [ViewSegment s] || values.Segments is not [ViewSegment v])
            throw new InvalidOperationException(why + "each must be exactly one view record");
        if (s.Op.Kind != TensorOpKind.QuantizeScales || v.Op.Kind != TensorOpKind.QuantizeValues)
            throw new InvalidOperationException(why + "they must be a quantization's scales and its values");
        bool sameOp = s.Op.Factor.Equals(v.Op.Factor) && s.Op.ScaleDType == v.Op.ScaleDType && s.Op.Rule == v.Op.Rule
                      && (s.Op.ReducedAxes ?? []).SequenceEqual(v.Op.ReducedAxes ?? []);
        bool sameParts = ReferenceEquals(s.Parts, v.Parts) || s.Parts.Count == v.Parts.Count;
        for (int i = 0; sameParts && !ReferenceEquals(s.Parts, v.Parts) && i < s.Parts.Count; i++) sameParts = Same(s.Parts[i], v.Parts[i]);
        if (!sameOp || !s.Shape.AsSpan().SequenceEqual(v.Shape) || !sameParts)
            throw new InvalidOperationException(why + "the two records quantize different data or differently");
    }

    private static bool Same(ViewPart a, ViewPart b) => ReferenceEquals(a, b)
        || (a.Tensor == b.Tensor && a.Split.AsSpan().SequenceEqual(b.Split) && a.Permutation.AsSpan().SequenceEqual(b.Permutation)
            && Same(a.Box, b.Box) && Same(a.Destination, b.Destination));

    private static bool Same(Tensors.Views.Box a, Tensors.Views.Box b) => a.Start.AsSpan().SequenceEqual(b.Start) && a.Length.AsSpan().SequenceEqual(b.Length);
}
