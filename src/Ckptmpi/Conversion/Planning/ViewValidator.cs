using Ckptmpi.Errors;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;
using Ckptmpi.Tensors.Views;

namespace Ckptmpi.Conversion.Planning;

/// <summary>
/// The checks of <see cref="PlanValidator"/> for box pieces and view records: split shapes of the tensor's
/// element count, boxes inside them, permutations, destination boxes that tile the record exactly once, shapes
/// that match (or broadcast from 1), and dtypes the gather and quantization kernels can produce.
/// </summary>
internal static class ViewValidator
{
    /// <summary>Box pieces of one tensor: each inside its split shape, none overlapping, together every element once.</summary>
    public static void ValidatePieces(SourceCatalog catalog, SourceTensor t)
    {
        long numel = t.ElementCount, total = 0;
        var pieces = t.Pieces.Where(p => p.ElementCount > 0).ToArray();
        foreach (SourcePiece p in pieces)
        {
            long[] split = p.SplitOf(numel);
            if (DTypes.ElementCount(split) != numel || !p.Box.FitsIn(split) || p.ByteOffset < 0)
                throw new CheckpointFormatException(Path.Combine(catalog.Root, p.File), p.ByteOffset,
                    $"piece {p.Box} of split shape [{string.Join(", ", split)}] does not lie inside a tensor of shape [{string.Join(", ", t.Shape)}]", t.Name);
            total = checked(total + p.ElementCount);
        }
        for (int i = 0; i < pieces.Length; i++)
        for (int j = i + 1; j < pieces.Length; j++)
        {
            if (Overlap(pieces[i], pieces[j], numel))
                throw new CheckpointFormatException(Path.Combine(catalog.Root, pieces[j].File), pieces[j].ByteOffset,
                    $"piece {pieces[j].Box} stores elements that piece {pieces[i].Box} in {pieces[i].File} also stores", t.Name);
        }
        if (total != numel)
            throw new CheckpointFormatException(catalog.Root, null, $"the source stores {total} elements but the shape [{string.Join(", ", t.Shape)}] has {numel}", t.Name);
    }

    private static bool Overlap(SourcePiece a, SourcePiece b, long numel)
    {
        long[] sa = a.SplitOf(numel), sb = b.SplitOf(numel);
        if (sa.AsSpan().SequenceEqual(sb)) return a.Box.Intersect(b.Box) is not null;
        long[] r = SplitShapes.CommonRefinement(sa, sb);
        List<Box> ba = SplitShapes.Decompose(sa, a.Box, r), bb = SplitShapes.Decompose(sb, b.Box, r);
        return ba.Any(x => bb.Any(y => x.Intersect(y) is not null));
    }

    /// <summary>One view record; returns the (tensor, elements) each part consumes, for the "everything written" check.</summary>
    public static IEnumerable<(string Tensor, long Elements)> ValidateSegment(SourceCatalog catalog, OutputFile f, ViewSegment v)
    {
        // Only an error formats the location: a layout has tens of thousands of records.
        string Where() => $"output file '{f.RelativePath}', record at byte {v.Offset}";
        int rank = v.Shape.Length;
        if (v.Op.Reduces)
        {
            int[] reduced = v.Op.ReducedAxes ?? [];
            bool distinct = true;
            for (int i = 0; i < reduced.Length; i++)
            for (int j = i + 1; j < reduced.Length; j++)
                distinct &= reduced[i] != reduced[j];
            if (!distinct || Array.Exists(reduced, a => a < 0 || a >= rank))
                throw new UnsupportedCheckpointException(catalog.Root, $"{Where()}: reduced axes [{string.Join(", ", reduced)}] of a rank-{rank} record");
            if (v.Op.Kind == TensorOpKind.MeanRows)
            {
                if (rank < 2 || v.Op.Repeat < 1 || !Tensors.Kernels.Cast.IsSupported(DType.F32, v.Op.ScaleDType)
                    || !Tensors.Kernels.Cast.IsSupported(v.Op.ScaleDType, DType.F32) || !Tensors.Kernels.Cast.IsSupported(DType.F32, v.DType))
                    throw new UnsupportedCheckpointException(catalog.Root, $"{Where()}: {v.Op} of a rank-{rank} record written as {v.DType}");
            }
            DType expected = v.Op.Kind switch { TensorOpKind.QuantizeValues => DType.I8, TensorOpKind.MeanRows => v.DType, _ => v.Op.ScaleDType };
            if (v.DType != expected || !Tensors.Kernels.Cast.IsSupported(DType.F32, v.Op.ScaleDType))
                throw new UnsupportedCheckpointException(catalog.Root, $"{Where()}: {v.Op} writes {expected}, not {v.DType}");
        }
        long covered = 0;
        var used = new List<(string, long)>();
        foreach (ViewPart p in v.Parts)
        {
            if (!catalog.Contains(p.Tensor))
                throw new UnsupportedCheckpointException(catalog.Root, $"{Where()} needs tensor '{p.Tensor}', which the source does not have ({catalog.Tensors.Count} tensors)");
            SourceTensor src = catalog[p.Tensor];
            if (DTypes.ElementCount(p.Split) != src.ElementCount || !p.Box.FitsIn(p.Split) || p.Permutation.Length != rank
                || !p.Destination.FitsIn(v.Shape) || p.Split.Length != rank)
                throw new ShapeMismatchException(catalog.Root, p.Tensor, src.Shape, src.Shape, $"{Where()}: part {p} does not fit the tensor or the record [{string.Join(", ", v.Shape)}]");
            TensorView.CheckPermutation(p.Permutation, rank);
            for (int i = 0; i < rank; i++)
            {
                long from = p.Box.Length[p.Permutation[i]], to = p.Destination.Length[i];
                if (from != to && from != 1)
                    throw new ShapeMismatchException(catalog.Root, p.Tensor, src.Shape, src.Shape, $"{Where()}: part {p} maps {from} elements of split axis {p.Permutation[i]} onto {to} of record axis {i}");
            }
            foreach (SourcePiece piece in src.Pieces)
            {
                bool arithmetic = v.Op.Kind is TensorOpKind.Scale or TensorOpKind.Divide;
                if (v.Op.Reduces || arithmetic) PlanValidator.CheckCast(catalog.Root, p.Tensor, piece.StoredDType, DType.F32);
                if (!v.Op.Reduces) PlanValidator.CheckCast(catalog.Root, p.Tensor, arithmetic ? DType.F32 : piece.StoredDType, v.DType);
            }
            covered += p.Destination.ElementCount;
            used.Add((p.Tensor, p.Box.ElementCount));
        }
        for (int i = 0; i < v.Parts.Count; i++)
        for (int j = i + 1; j < v.Parts.Count; j++)
        {
            if (v.Parts[i].Destination.Intersect(v.Parts[j].Destination) is not null)
                throw new InvalidOperationException($"{Where()}: parts {v.Parts[i]} and {v.Parts[j]} fill the same elements");
        }
        if (covered != DTypes.ElementCount(v.Shape))
            throw new InvalidOperationException($"{Where()}: parts fill {covered} of the record's {DTypes.ElementCount(v.Shape)} elements");
        return used;
    }
}
