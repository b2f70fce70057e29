namespace Ckptmpi.Tensors.Layout;

/// <summary>
/// The complete description of one output file, computed from metadata before any file is opened: its path
/// relative to the output directory, its length, segments that tile <c>[0, Length)</c> exactly, and the CRC-32
/// fields (zip) that must hold the checksum of a byte range once that range is written.
/// </summary>
public sealed record OutputFile(string RelativePath, long Length, IReadOnlyList<OutputSegment> Segments, IReadOnlyList<Crc32Field> Crc32Fields)
{
    /// <summary>
    /// Files a consumer reads first to decide that a checkpoint is complete (DeepSpeed's <c>latest</c>, the HF index):
    /// written by rank 0 after every other file is committed.
    /// </summary>
    public bool IsCommitMarker { get; init; }

    /// <summary>
    /// The path of the file computed in the same buffer pass as this one: set on a file that is exactly the
    /// per-channel scales record of a quantization whose values record is that whole other file (same parts, same
    /// arithmetic). The planner then reads the source once for both, and the values' chunk writes this file too.
    /// </summary>
    public string? WrittenWith { get; init; }

    /// <summary>Proves the segments tile the file exactly, in order, with no gap or overlap.</summary>
    public void Validate()
    {
        long at = 0;
        foreach (OutputSegment s in Segments)
        {
            if (s.Offset != at)
                throw new InvalidOperationException($"{RelativePath}: segment at {s.Offset} but the previous one ended at {at}");
            at = s.End;
        }
        if (at != Length)
            throw new InvalidOperationException($"{RelativePath}: segments end at {at} but the file is {Length} bytes");
        foreach (Crc32Field f in Crc32Fields)
        {
            if (f.Covered.End > Length || f.WriteAt.Any(w => w < 0 || w + 4 > Length))
                throw new InvalidOperationException($"{RelativePath}: CRC field {f} lies outside the file");
        }
    }
}

/// <summary>
/// "Write the little-endian CRC-32 of bytes <see cref="Covered"/> at each offset in <see cref="WriteAt"/>":
/// a zip's local header, data descriptor and central directory all repeat the CRC of a record's data. The
/// literal bytes at those offsets are placeholders until the executor patches them.
/// </summary>
public sealed record Crc32Field(ByteRange Covered, IReadOnlyList<long> WriteAt)
{
    public override string ToString() => $"crc32{Covered} -> [{string.Join(", ", WriteAt)}]";
}
