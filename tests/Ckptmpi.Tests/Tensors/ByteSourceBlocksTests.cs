using Ckptmpi.Errors;
using Ckptmpi.Tensors;

namespace Ckptmpi.Tests.Tensors;

/// <summary>Strided block reads: the same bytes whether blocks are read one by one or picked out of coalesced spans.</summary>
public sealed class ByteSourceBlocksTests
{
    /// <summary>Counts the reads that reach the source.</summary>
    private sealed class CountingSource(byte[] bytes) : IByteSource
    {
        private readonly MemoryByteSource _inner = new(bytes, "counted.bin");
        public int Reads;
        public string Path => _inner.Path;
        public long Length => _inner.Length;
        public void ReadExactly(long offset, Span<byte> destination) { Reads++; _inner.ReadExactly(offset, destination); }
        public void Dispose() { }
    }

    [TestCase(1408, 11264, 4096, TestName = "A row-parallel tp 8 band: many blocks per span, several spans")]
    [TestCase(2, 4, 3, TestName = "Tiny blocks, a single span")]
    [TestCase(1000, 1000, 5000, TestName = "Adjacent blocks (stride = length)")]
    [TestCase(4096, 4096 + ByteSourceBlocks.CoalesceGap - 1, 300, TestName = "A gap just under the threshold")]
    [TestCase(600_000, 700_000, 4, TestName = "Blocks so large that one span holds one block")]
    public void Coalesced_reads_give_the_bytes_of_block_by_block_reads(int length, long stride, int count)
    {
        var rng = new Random(length ^ count);
        byte[] file = new byte[123 + (count - 1) * stride + length + 77];
        rng.NextBytes(file);
        var source = new CountingSource(file);
        byte[] got = new byte[length * count];
        source.ReadBlocks(123, length, count, stride, got);
        byte[] expected = new byte[length * count];
        for (int i = 0; i < count; i++) file.AsSpan((int)(123 + i * stride), length).CopyTo(expected.AsSpan(i * length));
        Assert.That(got, Is.EqualTo(expected));
        long spanBlocks = stride > ByteSourceBlocks.SpanBytes ? 1 : (ByteSourceBlocks.SpanBytes - length) / stride + 1;
        Assert.That(source.Reads, Is.EqualTo(spanBlocks < 2 ? count : (int)Math.Ceiling(count / (double)spanBlocks)), "one read per span of blocks");
    }

    [Test]
    public void Blocks_further_apart_than_the_gap_are_read_one_by_one()
    {
        byte[] file = new byte[100 * 40_000];
        new Random(3).NextBytes(file);
        var source = new CountingSource(file);
        byte[] got = new byte[100 * 512];
        source.ReadBlocks(0, 512, 100, 512 + ByteSourceBlocks.CoalesceGap, got);
        Assert.That(source.Reads, Is.EqualTo(100));
        Assert.That(got.AsSpan(512, 512).SequenceEqual(file.AsSpan(512 + ByteSourceBlocks.CoalesceGap, 512)));
    }

    [Test]
    public void A_span_past_the_end_of_a_truncated_file_names_the_file()
    {
        var source = new CountingSource(new byte[10_000]);
        Assert.That(() => source.ReadBlocks(0, 100, 50, 400, new byte[5000]),
                    Throws.InstanceOf<CheckpointFormatException>().With.Message.Contains("counted.bin").And.Message.Contains("truncated"));
    }
}
