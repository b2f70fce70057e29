namespace Ckptmpi.Formats.DeepSpeed;

/// <summary>
/// Elements <c>[ParamOffset, ParamOffset + Count)</c> of param <see cref="ParamIndex"/> (flattened row-major) stored at
/// <see cref="PartitionOffset"/> elements into a rank's partition.
/// </summary>
public readonly record struct PartitionFragment(int ParamIndex, long ParamOffset, long PartitionOffset, long Count);
