using Ckptmpi.Tensors;

namespace Ckptmpi.Conversion.Planning;

/// <summary>A byte range of one output file given to one rank, cut into buffer-sized <see cref="Chunks"/>.</summary>
public sealed record WorkItem(int File, ByteRange Range, IReadOnlyList<Chunk> Chunks)
{
    public long BytesRead => Chunks.Sum(c => c.BytesRead);

    /// <summary>The range's bytes and those of the files its chunks write alongside (<see cref="Chunk.Companions"/>).</summary>
    public long BytesWritten => Range.Length + Chunks.Sum(c => c.Companions.Sum(x => (long)x.Length));

    public int PeakBuffer => Chunks.Count == 0 ? 0 : Chunks.Max(c => c.BufferBytes);
}
