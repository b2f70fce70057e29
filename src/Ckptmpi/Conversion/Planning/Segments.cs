using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Conversion.Planning;

/// <summary>Lookups over a file's segments, which tile the file in offset order (validated by <see cref="OutputFile.Validate"/>).</summary>
internal static class Segments
{
    /// <summary>Index of the segment holding byte <paramref name="offset"/> (the first non-empty one starting there).</summary>
    public static int IndexAt(IReadOnlyList<OutputSegment> segments, long offset)
    {
        int lo = 0, hi = segments.Count - 1;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (segments[mid].End <= offset) lo = mid + 1; else hi = mid;
        }
        return lo;
    }

    /// <summary>
    /// Moves a split point down to an element boundary when it falls inside a tensor segment, so that no element
    /// is ever written by two ranks.
    /// </summary>
    public static long SnapDown(IReadOnlyList<OutputSegment> segments, long offset)
    {
        if (segments.Count == 0) return offset;
        OutputSegment s = segments[IndexAt(segments, offset)];
        if (s is TensorSegment t && offset > t.Offset && offset < t.End)
        {
            int size = t.DType.SizeInBytes();
            return t.Offset + (offset - t.Offset) / size * size;
        }
        if (s is ViewSegment v && offset > v.Offset && offset < v.End)
        {
            // A reducing record is assembled in one pass by one rank; any other is cut into slabs from any element.
            if (v.Op.Reduces) return v.Offset;
            int size = v.DType.SizeInBytes();
            return v.Offset + (offset - v.Offset) / size * size;
        }
        return offset;
    }
}
