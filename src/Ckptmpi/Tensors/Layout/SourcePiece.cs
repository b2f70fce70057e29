using Ckptmpi.Tensors.Views;

namespace Ckptmpi.Tensors.Layout;

/// <summary>
/// A box of a canonical tensor stored contiguously in <see cref="File"/> at <see cref="ByteOffset"/> as
/// <see cref="StoredDType"/> (which may differ from the tensor's logical dtype: ZeRO keeps fp32 master copies of
/// bf16 weights). The tensor is seen through the split shape <see cref="Split"/> (row-major refinement of its
/// shape, see <see cref="SplitShapes"/>); <see cref="Box"/> is a box of that shape, and the stored array is the
/// box's elements with its axes in the order <see cref="Permutation"/> (stored axis k = split axis Permutation[k]),
/// row-major. A flat piece (null split and permutation) is elements <c>[FirstElement, FirstElement + ElementCount)</c>
/// of the flattened tensor, the only kind HF and ZeRO readers need.
/// </summary>
public sealed record SourcePiece
{
    /// <summary>A flat run of the row-major tensor.</summary>
    public SourcePiece(long firstElement, long elementCount, string file, long byteOffset, DType storedDType)
        : this(file, byteOffset, storedDType, Box.Range(firstElement, elementCount), null, null)
    {
    }

    /// <summary>A box of <paramref name="split"/> (null: the flat shape [numel]), stored with axes in <paramref name="permutation"/> order (null: as is).</summary>
    public SourcePiece(string file, long byteOffset, DType storedDType, Box box, long[]? split, int[]? permutation)
    {
        if (split is null && box.Rank != 1) throw new ArgumentException($"a flat piece is a 1-D box, not {box}", nameof(box));
        if (split is not null && split.Length != box.Rank) throw new ArgumentException($"box {box} is not of split shape [{string.Join(", ", split)}]", nameof(box));
        if (permutation is not null) TensorView.CheckPermutation(permutation, box.Rank);
        File = file;
        ByteOffset = byteOffset;
        StoredDType = storedDType;
        Box = box;
        Split = split;
        Permutation = permutation;
    }

    public string File { get; }

    public long ByteOffset { get; }

    public DType StoredDType { get; }

    public Box Box { get; }

    /// <summary>The split shape the box is of; null for a flat piece.</summary>
    public long[]? Split { get; }

    /// <summary>Stored axis k is split axis <c>Permutation[k]</c>; null for the identity.</summary>
    public int[]? Permutation { get; }

    public bool IsFlat => Split is null;

    /// <summary>First element of a flat piece (the box's start for a box piece of one axis).</summary>
    public long FirstElement => Box.Rank == 1 ? Box.Start[0] : throw new InvalidOperationException($"piece {Box} in {File} is not a flat run");

    public long ElementCount => Box.ElementCount;

    public ByteRange Bytes => ByteRange.FromLength(ByteOffset, checked(ElementCount * StoredDType.SizeInBytes()));

    /// <summary>The split shape of the piece for a tensor of <paramref name="numel"/> elements.</summary>
    public long[] SplitOf(long numel) => Split ?? [numel];

    /// <summary>
    /// The stored array as a view indexed by the split shape's coordinates: element offsets (from the piece's first
    /// stored element) of any index inside <see cref="Box"/>.
    /// </summary>
    public TensorView StoredView(long numel)
    {
        int rank = Box.Rank;
        int[] order = Permutation ?? Enumerable.Range(0, rank).ToArray();
        long[] storedStrides = TensorView.RowMajorStrides(order.Select(a => Box.Length[a]).ToArray());
        var strides = new long[rank];
        for (int k = 0; k < rank; k++) strides[order[k]] = storedStrides[k];
        long offset = 0;
        for (int a = 0; a < rank; a++) offset -= Box.Start[a] * strides[a];
        return new TensorView(SplitOf(numel), strides, offset);
    }
}
