using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Formats.DeepSpeed;

/// <summary>
/// One rank's stored elements of a flat buffer as a virtual concatenation of runs (one per saved tensor, in order),
/// so a range of the flat buffer maps to file pieces even when it crosses from one saved tensor to the next (as
/// zero_to_fp32 allows across ZeRO-3 sub-groups).
/// </summary>
internal sealed class RankRuns
{
    private readonly List<(string File, long ByteOffset, long Count, DType Stored)> _runs = new();

    public long Total { get; private set; }

    public void Add(string file, long byteOffset, long count, DType stored)
    {
        if (count == 0) return;
        _runs.Add((file, byteOffset, count, stored));
        Total = checked(Total + count);
    }

    /// <summary>Pieces for flat elements <c>[flatOffset, flatOffset + count)</c>, numbered from <paramref name="firstElement"/> of the canonical tensor.</summary>
    public void Map(long flatOffset, long count, long firstElement, List<SourcePiece> into)
    {
        if (count == 0) return;
        if (flatOffset < 0 || flatOffset + count > Total)
            throw new InvalidOperationException($"flat range [{flatOffset}, {flatOffset + count}) outside the {Total} stored elements");
        long runStart = 0;
        foreach (var r in _runs)
        {
            long runEnd = runStart + r.Count;
            long lo = Math.Max(flatOffset, runStart), hi = Math.Min(flatOffset + count, runEnd);
            if (lo < hi)
            {
                long elementSize = r.Stored.SizeInBytes();
                into.Add(new SourcePiece(firstElement + (lo - flatOffset), hi - lo, r.File, checked(r.ByteOffset + (lo - runStart) * elementSize), r.Stored));
            }
            if (runEnd >= flatOffset + count) break;
            runStart = runEnd;
        }
    }
}
