namespace Ckptmpi.Tensors.Layout;

/// <summary>What a <see cref="ViewSegment"/> computes from the elements its parts gather.</summary>
public enum TensorOpKind
{
    /// <summary>The elements, cast to the record's dtype (round to nearest even) when it differs.</summary>
    Copy,

    /// <summary>Each element times a constant, computed in fp32, then rounded to the record's dtype.</summary>
    Scale,

    /// <summary>Each element divided by a constant (<see cref="TensorOp.Factor"/>), computed in fp32, then rounded to the record's dtype.</summary>
    Divide,

    /// <summary>The int8 values of a symmetric absmax quantization (see <see cref="TensorOp"/>).</summary>
    QuantizeValues,

    /// <summary>The per-channel scales of a symmetric absmax quantization (see <see cref="TensorOp"/>).</summary>
    QuantizeScales,

    /// <summary>
    /// The mean over axis 0 of a <c>[rows, cols]</c> record's gathered elements, per column (see <see cref="TensorOp.MeanRows"/>),
    /// written <see cref="TensorOp.Repeat"/> times as the rows of a <c>[repeat, cols]</c> record.
    /// </summary>
    MeanRows,
}
