using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Conversion.Verify;

/// <summary>
/// Compares two checkpoints tensor by tensor, value by value, in chunks: the same names and shapes, and the same
/// bits once both sides are read as <c>as</c> (the expected side cast with round-to-nearest-even when its dtype
/// differs, so "exact rounding" is checked bit for bit too). Reports the first mismatching element per tensor.
/// </summary>
public static class CatalogComparer
{
    private const int ChunkElements = 1 << 20;

    /// <summary>One difference found.</summary>
    public sealed record Mismatch(string Tensor, string What);

    public static List<Mismatch> Compare(SourceCatalog expected, SourceCatalog actual, Func<SourceTensor, DType>? compareAs = null, IEnumerable<string>? ignore = null)
    {
        var skip = new HashSet<string>(ignore ?? [], StringComparer.Ordinal);
        var mismatches = new List<Mismatch>();
        foreach (SourceTensor e in expected.Tensors.Where(t => !skip.Contains(t.Name)))
            if (!actual.Contains(e.Name)) mismatches.Add(new Mismatch(e.Name, "missing"));
        foreach (SourceTensor a in actual.Tensors.Where(t => !skip.Contains(t.Name)))
            if (!expected.Contains(a.Name)) mismatches.Add(new Mismatch(a.Name, "unexpected"));

        using var left = new TensorReader(expected);
        using var right = new TensorReader(actual);
        foreach (SourceTensor e in expected.Tensors.Where(t => !skip.Contains(t.Name) && actual.Contains(t.Name)))
        {
            SourceTensor a = actual[e.Name];
            if (!e.Shape.SequenceEqual(a.Shape))
            {
                mismatches.Add(new Mismatch(e.Name, $"shape [{string.Join(", ", a.Shape)}], expected [{string.Join(", ", e.Shape)}]"));
                continue;
            }
            DType dtype = compareAs?.Invoke(a) ?? a.DType;
            if (Verify.TensorComparison.FirstMismatch(left, e, right, a, dtype, ChunkElements * dtype.SizeInBytes() * 2) is string detail)
                mismatches.Add(new Mismatch(e.Name, detail));
        }
        return mismatches;
    }
}
