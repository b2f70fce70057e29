using Ckptmpi.Tensors.Views;

namespace Ckptmpi.Tensors.Layout;

/// <summary>
/// One canonical tensor's contribution to a <see cref="ViewSegment"/>: the box <see cref="Box"/> of the tensor seen
/// through split shape <see cref="Split"/>, with its axes reordered by <see cref="Permutation"/> (record axis i is
/// split axis Permutation[i]), fills <see cref="Destination"/>, a box of the record's shape. A split axis of length
/// 1 under a destination axis of length r &gt; 1 is repeated r times in place (KV-head replication).
/// </summary>
public sealed record ViewPart(string Tensor, long[] Split, Box Box, int[] Permutation, Box Destination)
{
    /// <summary>The whole tensor, reshaped to <paramref name="split"/>, filling the destination as is.</summary>
    public static ViewPart Whole(string tensor, long[] split, Box destination) =>
        new(tensor, split, Box.Full(split), Enumerable.Range(0, split.Length).ToArray(), destination);

    /// <summary>Whether record axis <paramref name="axis"/> repeats a length-1 source axis.</summary>
    public bool Broadcasts(int axis) => Box.Length[Permutation[axis]] == 1 && Destination.Length[axis] != 1;

    public override string ToString() => $"{Tensor}[{string.Join(", ", Split)}]{Box} perm [{string.Join(", ", Permutation)}] -> {Destination}";
}
