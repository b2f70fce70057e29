using Ckptmpi.Tensors;

namespace Ckptmpi.Formats.Safetensors;

/// <summary>
/// One tensor entry of a validated safetensors header: its dtype, shape, and where its bytes are, both relative to
/// the data section (<see cref="DataOffsets"/>, as the header says) and in the file (<see cref="FileRange"/>).
/// </summary>
public sealed record SafetensorsTensorInfo(string Name, DType DType, IReadOnlyList<long> Shape, ByteRange DataOffsets, ByteRange FileRange)
{
    public long ElementCount => DataOffsets.Length / DType.SizeInBytes();

    public long ByteLength => DataOffsets.Length;

    public override string ToString() => $"{Name} {DType.SafetensorsName()} [{string.Join(", ", Shape)}] {FileRange}";
}
