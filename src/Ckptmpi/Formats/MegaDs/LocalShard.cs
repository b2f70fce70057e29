using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Formats.MegaDs;

/// <summary>
/// One tensor rank's shard of one Megatron parameter as it is stored: its local shape and the flat runs of its
/// row-major elements in the source files (one run from a layer file; one or two from the ZeRO partitions that cut
/// it). <see cref="Origin"/> is the file a message about it names.
/// </summary>
internal sealed record LocalShard(string Origin, long[] Shape, IReadOnlyList<SourcePiece> Runs)
{
    public long ElementCount => DTypes.ElementCount(Shape);

    public DType StoredDType => Runs.Count > 0 ? Runs[0].StoredDType : DType.F32;

    /// <summary>
    /// The stored runs that hold local elements <c>[start, start + count)</c>, each as (offset from
    /// <paramref name="start"/>, element count, file, byte offset, stored dtype).
    /// </summary>
    public IEnumerable<(long Rel, long Count, string File, long ByteOffset, DType Stored)> Slice(long start, long count)
    {
        foreach (SourcePiece p in Runs)
        {
            long a = p.FirstElement, b = a + p.ElementCount;
            long lo = Math.Max(a, start), hi = Math.Min(b, start + count);
            if (lo >= hi) continue;
            yield return (lo - start, hi - lo, p.File, checked(p.ByteOffset + (lo - a) * p.StoredDType.SizeInBytes()), p.StoredDType);
        }
    }
}
