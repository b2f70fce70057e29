using Ckptmpi.Tensors;

namespace Ckptmpi.Conversion.Planning;

/// <summary>
/// One pass of the executor's buffer: output bytes <c>[Start, Start + Length)</c> of file <see cref="File"/>,
/// assembled in the first <see cref="Length"/> bytes of the buffer (the output area) and, for elements whose
/// dtype changes or that view records gather, source bytes staged after it (and the fp32 scratch of a reducing record). <see cref="BufferBytes"/> is the most of the buffer it touches.
/// </summary>
public sealed record Chunk(
    int File,
    long Start,
    int Length,
    int BufferBytes,
    SourceRead[] Reads,
    LiteralOp[] Literals,
    ZeroOp[] Zeros,
    CastOp[] Casts,
    CrcRun[] Crcs,
    GatherOp[] Gathers,
    ReduceStep[] Reduces)
{
    public long End => Start + Length;

    /// <summary>Other files' bytes this chunk also computes (a quantization's scales beside its values), written after its own.</summary>
    public CompanionWrite[] Companions { get; init; } = [];

    /// <summary>Bytes written: the chunk's own and its companions'.</summary>
    public long BytesWritten => Length + Companions.Sum(c => (long)c.Length);

    public long BytesRead => Reads.Sum(r => (long)r.TotalBytes);
}

/// <summary>
/// Read <see cref="Length"/> bytes of source file <see cref="Source"/> at <see cref="SourceOffset"/> into the buffer at
/// <see cref="BufferOffset"/>; a strided read repeats that <see cref="Count"/> times, block <c>i</c> from
/// <c>SourceOffset + i * Stride</c>, packed one after another in the buffer. Strided reads are how a column band of a
/// row-major tensor (the source of a transposed output slab) is staged at its own size instead of through the bounding
/// byte range, which for a full-size transpose is the whole tensor: one plan entry, not one per row.
/// </summary>
public readonly record struct SourceRead(int Source, long SourceOffset, int BufferOffset, int Length)
{
    /// <summary>Blocks read, each <see cref="Length"/> bytes (1: one contiguous read).</summary>
    public int Count { get; init; } = 1;

    /// <summary>Bytes from one block's start in the source file to the next's (used when <see cref="Count"/> &gt; 1).</summary>
    public long Stride { get; init; }

    /// <summary>Bytes this read places in the buffer.</summary>
    public int TotalBytes => checked(Length * Count);

    /// <summary>One past the last source byte read.</summary>
    public long SourceEnd => SourceOffset + (Count - 1) * Stride + Length;

    public bool IsStrided => Count > 1;
}

/// <summary>
/// Bytes <c>[Start, Start + Length)</c> of output file <see cref="File"/> that a chunk of another file computes in the
/// same buffer pass (<see cref="Tensors.Layout.OutputFile.WrittenWith"/>), assembled at <see cref="BufferOffset"/> of the
/// buffer (past the chunk's output area), with the CRC runs of those bytes.
/// </summary>
public sealed record CompanionWrite(int File, long Start, int Length, int BufferOffset, CrcRun[] Crcs)
{
    public long End => Start + Length;
}

/// <summary>Copy bytes <c>[SegmentOffset, SegmentOffset + Length)</c> of the file's literal segment number <see cref="Segment"/> to the buffer.</summary>
public readonly record struct LiteralOp(int Segment, int SegmentOffset, int BufferOffset, int Length);

/// <summary>Clear <see cref="Length"/> bytes of the buffer at <see cref="BufferOffset"/>.</summary>
public readonly record struct ZeroOp(int BufferOffset, int Length);

/// <summary>Convert <see cref="Elements"/> elements staged at <see cref="From"/> offset into <see cref="To"/> dtype at <see cref="BufferOffset"/>.</summary>
public readonly record struct CastOp(int StagingOffset, DType From, int BufferOffset, DType To, int Elements);

/// <summary>
/// A run of output bytes whose CRC-32 the executor reports: <see cref="Field"/> is the index of the file's
/// <c>Crc32Field</c> the run belongs to, or -1. The runs of all chunks tile each file except the 4-byte CRC slots,
/// so rank 0 combines them into both the zip CRCs and the whole-file checksum of the manifest.
/// </summary>
public readonly record struct CrcRun(long FileOffset, int Length, int Field);
