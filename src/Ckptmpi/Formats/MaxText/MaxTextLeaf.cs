using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;
using Ckptmpi.Tensors.Views;

namespace Ckptmpi.Formats.MaxText;

/// <summary>
/// One array of the MaxText parameter tree: its key path (strings; an int is a list index), its shape before any
/// quantization reduces it (<see cref="Shape"/>; the stored array is <see cref="ArrayShape"/>), the dtype stored, and how
/// its elements come from canonical tensors: <see cref="Parts"/> fill <see cref="RecordShape"/>, a row-major
/// refinement of <see cref="Shape"/> that may only split the last axis (the rotary pairs of a head), through
/// <see cref="Op"/>. <see cref="SplitOrder"/> lists the axes a chunk may cut, best first: the axes that come from the
/// source's rows, so a chunk reads whole source rows; <see cref="LayerAxis"/> (scanned trees) is always cut to 1.
/// </summary>
internal sealed record MaxTextLeaf(object[] Path, long[] Shape, DType DType, long[] RecordShape, TensorOp Op, IReadOnlyList<ViewPart> Parts, int[] SplitOrder, int? LayerAxis)
{
    /// <summary>
    /// For a quantization's scales: the folder of the int8 values array of the same kernel. Both are chunked alike, and
    /// each scales chunk file is computed in the pass that writes the values chunk file, from one read of the source.
    /// </summary>
    public string? ValuesFolder { get; init; }

    /// <summary>The stored array: a quantization's scales keep the reduced axes at 1.</summary>
    public long[] ArrayShape => Op.Kind == TensorOpKind.QuantizeScales ? Op.RecordShape(Shape) : Shape;

    /// <summary>Orbax's folder name of the array: the key path joined with dots.</summary>
    public string FolderName => string.Join(".", Path.Select(k => k.ToString()));

    /// <summary>
    /// The record of the chunk that covers <paramref name="box"/> of <see cref="Shape"/> (whole on the reduced axes and
    /// on a refined last axis): the parts cut to the box, their destinations moved to the box's origin.
    /// </summary>
    public ViewSegment Record(Box box)
    {
        int extra = RecordShape.Length - Shape.Length;
        long[] start = new long[RecordShape.Length], length = new long[RecordShape.Length];
        for (int a = 0; a < RecordShape.Length; a++)
        {
            bool refined = a >= Shape.Length - 1 && extra > 0;
            if (refined && (box.Start[Shape.Length - 1] != 0 || box.Length[Shape.Length - 1] != Shape[^1]))
                throw new InvalidOperationException($"{FolderName}: a chunk may not cut the rotary axis");
            start[a] = refined ? 0 : box.Start[a];
            length[a] = refined ? RecordShape[a] : box.Length[a];
        }
        var recordBox = new Box(start, length);
        var parts = new List<ViewPart>();
        foreach (ViewPart p in Parts)
        {
            if (p.Destination.Intersect(recordBox) is not Box common) continue;
            long[] srcStart = (long[])p.Box.Start.Clone(), srcLength = (long[])p.Box.Length.Clone();
            long[] dstStart = new long[common.Rank];
            for (int i = 0; i < common.Rank; i++)
            {
                int k = p.Permutation[i];
                srcStart[k] = p.Box.Start[k] + common.Start[i] - p.Destination.Start[i];
                srcLength[k] = common.Length[i];
                dstStart[i] = common.Start[i] - recordBox.Start[i];
            }
            parts.Add(new ViewPart(p.Tensor, p.Split, new Box(srcStart, srcLength), p.Permutation, new Box(dstStart, (long[])common.Length.Clone())));
        }
        return new ViewSegment(0, recordBox.Length, DType, Op, parts);
    }
}
