namespace Ckptmpi.Tensors.Layout;

/// <summary>
/// The operation a <see cref="ViewSegment"/> applies to the gathered elements. Quantization is int8 symmetric absmax
/// with one scale per channel, a channel being an index of the axes not in <see cref="ReducedAxes"/>; the values
/// and the scales are two records with the same parts (which a layout may pair, <see cref="OutputFile.WrittenWith"/>, to
/// compute both from one read). Arithmetic, in this order, all in fp32:
/// <c>absmax = max |x|</c> over the channel (x exact in fp32 from bf16/f16/f32);
/// <c>scale = absmax / 127.5f</c>, rounded to nearest even to <see cref="ScaleDType"/> (the stored scale);
/// <c>q = x / (float)stored_scale</c>, rounded half to even, clamped to [-127, 127] (0 where the scale is 0).
/// Dividing by the rounded scale makes <c>q * stored_scale</c> the best reconstruction from what is stored.
/// That is <see cref="QuantizeRule.Fp32Divide"/>; <see cref="Rule"/> may name another arithmetic, which may also divide
/// the input by <see cref="Factor"/> first (see <see cref="QuantizeRule"/>).
/// </summary>
public sealed record TensorOp(TensorOpKind Kind, float Factor = 1f, int[]? ReducedAxes = null, DType ScaleDType = DType.BF16,
                              QuantizeRule Rule = QuantizeRule.Fp32Divide, long Repeat = 1)
{
    public static TensorOp Copy { get; } = new(TensorOpKind.Copy);

    public static TensorOp Scale(float factor) => new(TensorOpKind.Scale, Factor: factor);

    /// <summary>Each element divided by <paramref name="divisor"/> in fp32 (not times its rounded reciprocal), then rounded.</summary>
    public static TensorOp Divide(float divisor) => new(TensorOpKind.Divide, Factor: divisor);

    public static TensorOp QuantizeValues(int[] reducedAxes, DType scaleDType, QuantizeRule rule = QuantizeRule.Fp32Divide, float divisor = 1f) =>
        new(TensorOpKind.QuantizeValues, Factor: divisor, ReducedAxes: reducedAxes, ScaleDType: scaleDType, Rule: rule);

    public static TensorOp QuantizeScales(int[] reducedAxes, DType scaleDType, QuantizeRule rule = QuantizeRule.Fp32Divide, float divisor = 1f) =>
        new(TensorOpKind.QuantizeScales, Factor: divisor, ReducedAxes: reducedAxes, ScaleDType: scaleDType, Rule: rule);

    /// <summary>
    /// Per column, the mean of the rows of a <c>[rows, cols]</c> record (a tensor's real vocabulary rows, whose mean Megatron
    /// puts in the padded ones): summed in fp64 in row order, divided by the row count, rounded to fp32, then to
    /// <paramref name="heldIn"/> (the dtype the value lives in, e.g. bf16 weights whose fp32 masters copy them), then to
    /// the record's dtype; the record is <c>[repeat, cols]</c>, every row that mean.
    /// </summary>
    public static TensorOp MeanRows(long repeat, DType heldIn) => new(TensorOpKind.MeanRows, ReducedAxes: [0], ScaleDType: heldIn, Repeat: repeat);

    /// <summary>Whether an output element depends on other elements: such a record is assembled in one buffer pass.</summary>
    public bool Reduces => Kind is TensorOpKind.QuantizeValues or TensorOpKind.QuantizeScales or TensorOpKind.MeanRows;

    /// <summary>The shape of the record in the file for parts filling <paramref name="shape"/>: the scales drop the reduced axes to 1.</summary>
    public long[] RecordShape(IReadOnlyList<long> shape)
    {
        long[] s = shape.ToArray();
        if (Kind == TensorOpKind.QuantizeScales)
        {
            foreach (int a in ReducedAxes ?? []) s[a] = 1;
        }
        if (Kind == TensorOpKind.MeanRows) s[0] = Repeat;
        return s;
    }

    /// <summary>The element count of <see cref="RecordShape"/>, without building it (asked for every record, often).</summary>
    public long RecordElementCount(IReadOnlyList<long> shape)
    {
        long n = 1;
        for (int i = 0; i < shape.Count; i++)
        {
            if (Kind == TensorOpKind.QuantizeScales && ReducedAxes is not null && Array.IndexOf(ReducedAxes, i) >= 0) continue;
            ArgumentOutOfRangeException.ThrowIfNegative(shape[i]);
            // As RecordShape: the row mean writes Repeat rows of the mean.
            n = checked(n * (Kind == TensorOpKind.MeanRows && i == 0 ? Repeat : shape[i]));
        }
        return n;
    }

    public override string ToString() => Kind switch
    {
        TensorOpKind.Scale => $"scale({Factor:R})",
        TensorOpKind.Divide => $"divide({Factor:R})",
        TensorOpKind.MeanRows => $"mean-rows(x{Repeat}, held in {ScaleDType})",
        TensorOpKind.QuantizeValues or TensorOpKind.QuantizeScales =>
            $"{Kind}(reduce [{string.Join(", ", ReducedAxes ?? [])}], {ScaleDType}{(Rule == QuantizeRule.Fp32Divide ? "" : $", {Rule}")}{(Factor == 1f ? "" : $", input / {Factor:R}")})",
        _ => "copy",
    };
}
