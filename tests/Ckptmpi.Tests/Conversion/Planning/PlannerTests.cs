using Ckptmpi.Conversion.Planning;
using Ckptmpi.Errors;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Tests.Conversion.Planning;

public sealed class PlannerTests
{
    private string _dir = null!;

    [SetUp]
    public void SetUp() => _dir = TestPaths.NewTempDir();

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    [TestCase(1), TestCase(2), TestCase(3), TestCase(5)]
    public void Every_output_byte_is_in_exactly_one_chunk_and_no_chunk_exceeds_the_buffer(int ranks)
    {
        int seed = TestContext.CurrentContext.Random.Next();
        TestContext.Out.WriteLine($"seed {seed}");
        var model = SyntheticCheckpoint.Create(_dir, seed, zeroLike: seed % 2 == 0);
        Plan plan = Planner.Build(model.Layout, model.Catalog, new PlanOptions(ranks, BufferBudget.MinChunkBytes));

        var chunks = plan.Ranks.SelectMany(r => r.Items).Concat(plan.CommitItems).SelectMany(i => i.Chunks).ToList();
        Assert.That(chunks.Max(c => c.BufferBytes), Is.LessThanOrEqualTo(BufferBudget.MinChunkBytes));
        foreach (OutputFile f in model.Layout.Files)
        {
            int index = model.Layout.Files.ToList().IndexOf(f);
            long at = 0;
            foreach (Chunk c in chunks.Where(c => c.File == index).OrderBy(c => c.Start))
            {
                Assert.That(c.Start, Is.EqualTo(at), $"{f.RelativePath}");
                at = c.End;
            }
            Assert.That(at, Is.EqualTo(f.Length), f.RelativePath);
        }
    }

    [Test]
    public void The_same_inputs_give_the_same_plan_hash_and_a_different_buffer_a_different_one()
    {
        var model = SyntheticCheckpoint.Create(_dir, 7);
        string a = Planner.Build(model.Layout, model.Catalog, new PlanOptions(3, 1 << 20)).Hash;
        string b = Planner.Build(model.Layout, model.Catalog, new PlanOptions(3, 1 << 20)).Hash;
        string c = Planner.Build(model.Layout, model.Catalog, new PlanOptions(3, 2 << 20)).Hash;
        Assert.That(a, Is.EqualTo(b));
        Assert.That(a, Is.Not.EqualTo(c));
    }

    [Test]
    public void Reads_of_contiguous_source_bytes_are_merged_into_one()
    {
        // Two adjacent same-dtype tensors written back to back: one read, not two.
        var catalog = new SourceCatalog(_dir, [
            new SourceTensor("a", DType.BF16, [100], [new SourcePiece(0, 100, "s.bin", 8, DType.BF16)]),
            new SourceTensor("b", DType.BF16, [50], [new SourcePiece(0, 50, "s.bin", 208, DType.BF16)]),
        ]);
        var layout = new OutputLayout([new OutputFile("o.bin", 300, [
            new TensorSegment(0, "a", 0, 100, DType.BF16), new TensorSegment(200, "b", 0, 50, DType.BF16)], [])]);
        Chunk chunk = Planner.Build(layout, catalog, new PlanOptions(1, BufferBudget.MinChunkBytes)).Ranks[0].Items[0].Chunks.Single();
        Assert.That(chunk.Reads, Is.EqualTo(new[] { new SourceRead(0, 8, 0, 300) }));
    }

    [Test]
    public void Equal_files_on_as_many_ranks_are_balanced_without_splitting()
    {
        var layout = new OutputLayout(Enumerable.Range(0, 96).Select(i => new OutputFile($"f{i}", 1000, [new ZeroSegment(0, 1000)], [])).ToList());
        Plan plan = Planner.Build(layout, new SourceCatalog(_dir, []), new PlanOptions(96, BufferBudget.MinChunkBytes));
        Assert.That(plan.Summarize().Balance, Is.EqualTo(1.0));
        Assert.That(plan.Ranks.All(r => r.Items.Count == 1));
    }

    [Test]
    public void A_file_much_larger_than_the_mean_share_is_split_at_element_boundaries_over_ranks()
    {
        // One 40 MiB tensor of odd-offset fp32 elements plus small files: 4 ranks must share the big one.
        long n = 10L << 20;
        var catalog = new SourceCatalog(_dir, [new SourceTensor("w", DType.F32, [n], [new SourcePiece(0, n, "s.bin", 0, DType.F32)])]);
        var big = new OutputFile("big", 3 + n * 4, [new LiteralSegment(0, [1, 2, 3]), new TensorSegment(3, "w", 0, n, DType.F32)], []);
        var layout = new OutputLayout([big, new OutputFile("small", 10, [new ZeroSegment(0, 10)], [])]);
        Plan plan = Planner.Build(layout, catalog, new PlanOptions(4, 8 << 20));
        Assert.That(plan.Summarize().Balance, Is.LessThanOrEqualTo(1.05));
        foreach (WorkItem item in plan.Ranks.SelectMany(r => r.Items).Where(i => i.File == 0))
            Assert.That((item.Range.Start - 3) % 4, Is.EqualTo(0).Or.EqualTo(-3), $"split at {item.Range.Start}");
    }

    [Test]
    public void A_segment_naming_a_tensor_the_source_lacks_is_refused_before_any_io()
    {
        var layout = new OutputLayout([new OutputFile("o", 4, [new TensorSegment(0, "missing", 0, 2, DType.BF16)], [])]);
        Assert.That(() => Planner.Build(layout, new SourceCatalog(_dir, []), new PlanOptions(1, BufferBudget.MinChunkBytes)),
            Throws.TypeOf<UnsupportedCheckpointException>().With.Message.Contains("missing").And.Message.Contains("'o'"));
    }

    [Test]
    public void An_element_span_past_the_end_of_the_tensor_is_refused()
    {
        var catalog = new SourceCatalog(_dir, [new SourceTensor("w", DType.BF16, [4], [new SourcePiece(0, 4, "s", 0, DType.BF16)])]);
        var layout = new OutputLayout([new OutputFile("o", 6, [new TensorSegment(0, "w", 2, 3, DType.BF16)], [])]);
        Assert.That(() => Planner.Build(layout, catalog, new PlanOptions(1, BufferBudget.MinChunkBytes)),
            Throws.TypeOf<ShapeMismatchException>().With.Property(nameof(ShapeMismatchException.TensorName)).EqualTo("w"));
    }

    [Test]
    public void A_source_tensor_the_output_never_writes_is_an_error_when_the_writer_converts_everything()
    {
        var catalog = new SourceCatalog(_dir, [
            new SourceTensor("w", DType.BF16, [4], [new SourcePiece(0, 4, "s", 0, DType.BF16)]),
            new SourceTensor("orphan", DType.BF16, [4], [new SourcePiece(0, 4, "s", 8, DType.BF16)])]);
        var layout = new OutputLayout([new OutputFile("o", 8, [new TensorSegment(0, "w", 0, 4, DType.BF16)], [])]);
        Assert.That(() => Planner.Build(layout, catalog, new PlanOptions(1, BufferBudget.MinChunkBytes)),
            Throws.TypeOf<UnsupportedCheckpointException>().With.Message.Contains("orphan"));
        Assert.That(() => Planner.Build(layout, catalog, new PlanOptions(1, BufferBudget.MinChunkBytes, RequireAllSourceTensorsConsumed: false)), Throws.Nothing);
    }

    [Test]
    public void Source_pieces_that_leave_a_gap_name_the_file_and_the_tensor()
    {
        var catalog = new SourceCatalog(_dir, [new SourceTensor("w", DType.F32, [10], [
            new SourcePiece(0, 4, "rank0.pt", 64, DType.F32), new SourcePiece(6, 4, "rank1.pt", 64, DType.F32)])]);
        var layout = new OutputLayout([new OutputFile("o", 40, [new TensorSegment(0, "w", 0, 10, DType.F32)], [])]);
        Assert.That(() => Planner.Build(layout, catalog, new PlanOptions(1, BufferBudget.MinChunkBytes)),
            Throws.TypeOf<CheckpointFormatException>().With.Message.Contains("rank1.pt").And.Property(nameof(CheckpointFormatException.TensorName)).EqualTo("w"));
    }

    [Test]
    public void A_cast_the_kernels_cannot_do_is_refused()
    {
        var catalog = new SourceCatalog(_dir, [new SourceTensor("ids", DType.I64, [2], [new SourcePiece(0, 2, "s", 0, DType.I64)])]);
        var layout = new OutputLayout([new OutputFile("o", 8, [new TensorSegment(0, "ids", 0, 2, DType.F32)], [])]);
        Assert.That(() => Planner.Build(layout, catalog, new PlanOptions(1, BufferBudget.MinChunkBytes)),
            Throws.TypeOf<UnsupportedCheckpointException>().With.Message.Contains("I64"));
    }
}
