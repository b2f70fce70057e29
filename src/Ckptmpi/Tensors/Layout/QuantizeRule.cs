namespace Ckptmpi.Tensors.Layout;

/// <summary>
/// The arithmetic of an int8 quantization record (<see cref="TensorOp"/>). Both keep the same scales except for an
/// all-zero channel; the values can differ by one step where a product lands near a half.
/// </summary>
public enum QuantizeRule
{
    /// <summary>
    /// All in fp32: <c>scale = absmax / 127.5f</c> rounded to the scale dtype; <c>q = x / scale</c>, rounded half to
    /// even, clamped to [-127, 127]; 0 where the scale is 0 (an all-zero channel).
    /// </summary>
    Fp32Divide,

    /// <summary>
    /// AQT's <c>IntSymmetric</c> int8 with absmax calibration as it runs on a tensor of the scale dtype (the compute
    /// dtype, MaxText's bf16 weights): every intermediate is rounded to the scale dtype. Input <c>x</c> is first
    /// <c>x / Factor</c> rounded to the scale dtype (a query scaled before quantization); an absmax of 0 becomes 1;
    /// <c>scale = absmax / 127.5f</c>; <c>r = 1 / scale</c>; <c>q = x * r</c>, each rounded; then rounded half to
    /// even and clamped to [-127, 127].
    /// </summary>
    AqtReciprocal,
}
