using Ckptmpi.Cli.Commands;
using Ckptmpi.Conversion.Planning;
using Ckptmpi.Cli;

namespace Ckptmpi.Tests.Conversion.Planning;

public sealed class BufferBudgetTests
{
    private static readonly long[] Sizes = [BufferBudget.Minimum, 100_000, 1L << 20, BufferBudget.Default, BufferBudget.Maximum];

    [TestCaseSource(nameof(Sizes))]
    public void Each_split_fits_max_buffer_and_leaves_chunks_the_planner_accepts(long max)
    {
        BufferBudget direct = BufferBudget.Direct(max), aggregate = BufferBudget.Aggregate(max);
        Assert.That((long)direct.ChunkBuffers * direct.ChunkBytes, Is.LessThanOrEqualTo(max));
        Assert.That(direct.ChunkBuffers, Is.EqualTo(2), "direct I/O overlaps reading and writing with two buffers");
        Assert.That((long)aggregate.ChunkBuffers * aggregate.ChunkBytes + aggregate.ReceiveBytes + aggregate.SendBytes, Is.LessThanOrEqualTo(max));
        Assert.That(aggregate.ReceiveBytes, Is.GreaterThanOrEqualTo(aggregate.ChunkBytes), "a chunk's reads fit its buffer, so they fit the receive area");
        Assert.That(Math.Min(direct.ChunkBytes, aggregate.ChunkBytes), Is.GreaterThanOrEqualTo(BufferBudget.MinChunkBytes));
        Assert.That(aggregate.SendBytes, Is.GreaterThan(0));
    }

    [Test]
    public void Values_outside_the_bounds_are_refused()
    {
        Assert.That(BufferBudget.Problem(BufferBudget.Minimum), Is.Null);
        Assert.That(BufferBudget.Problem(BufferBudget.Minimum - 1), Does.Contain("64 KiB"));
        Assert.That(BufferBudget.Problem(BufferBudget.Maximum + 1), Is.Not.Null);
        Assert.That(() => BufferBudget.Aggregate(BufferBudget.Minimum - 1), Throws.InstanceOf<ArgumentOutOfRangeException>());
    }

    [TestCase("32KiB")]
    [TestCase("65535")]
    public void The_command_line_refuses_a_max_buffer_below_the_minimum_and_names_it(string value)
    {
        Assert.That(() => ConvertCommand.Parse("--from", "hf", "--to", "hf", "--input", "in", "--output", "out", "--max-buffer", value),
            Throws.InstanceOf<UsageException>().With.Message.Contains("between 64 KiB").And.Message.Contains(value));
        Assert.That(ConvertCommand.Parse("--from", "hf", "--to", "hf", "--input", "in", "--output", "out", "--max-buffer", "64KiB", "--io", "aggregate").MaxBuffer,
            Is.EqualTo(BufferBudget.Minimum));
    }
}
