using Ckptmpi.Conversion;
using Ckptmpi.Conversion.Planning;
using Ckptmpi.Errors;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;
using Ckptmpi.Tensors.Views;

namespace Ckptmpi.Tests.Conversion.Planning;

/// <summary>How the planner cuts and checks view records and box pieces, without reading a byte.</summary>
public sealed class ViewPlannerTests
{
    /// <summary>A [rows, cols] bf16 tensor stored as two shards split along dim 1 at column <c>cols / 2</c>.</summary>
    private static SourceCatalog Sharded(long rows, long cols, string name = "w") => new("/none",
    [
        new SourceTensor(name, DType.BF16, [rows, cols],
        [
            new SourcePiece("a.bin", 0, DType.BF16, new Box([0, 0], [rows, cols / 2]), [rows, cols], null),
            new SourcePiece("b.bin", 0, DType.BF16, new Box([0, cols / 2], [rows, cols - cols / 2]), [rows, cols], null),
        ]),
    ]);

    private static OutputLayout One(params OutputSegment[] segments) => new([new OutputFile("out.bin", segments[^1].End, segments, [])]);

    [Test]
    public void A_record_is_cut_into_row_major_slabs_each_reading_every_shard_once()
    {
        SourceCatalog catalog = Sharded(512, 256);
        var record = new ViewSegment(0, [512, 256], DType.BF16, TensorOp.Copy, [ViewPart.Whole("w", [512, 256], Box.Full([512, 256]))]);
        Plan plan = Planner.Build(One(record), catalog, new PlanOptions(1, BufferBudget.Minimum));
        Chunk[] chunks = plan.Ranks[0].Items.SelectMany(i => i.Chunks).ToArray();
        Assert.That(chunks, Has.Length.GreaterThan(4), "256 KiB through a 64 KiB buffer");
        Assert.That(chunks.Sum(c => (long)c.Length), Is.EqualTo(record.Length));
        foreach (Chunk c in chunks)
        {
            Assert.That(c.Reads.Select(r => plan.Sources[r.Source]), Is.EquivalentTo(new[] { "a.bin", "b.bin" }));
            Assert.That(c.Gathers, Has.Length.EqualTo(2), "one strided gather per shard");
            Assert.That(c.Length % (256 * 2), Is.EqualTo(0), "whole rows");
            Assert.That(c.BufferBytes, Is.LessThanOrEqualTo(BufferBudget.Minimum));
        }
    }

    [Test]
    public void A_quantized_record_is_never_cut_and_one_too_big_names_the_buffer_it_needs()
    {
        SourceCatalog catalog = Sharded(64, 64);
        var values = new ViewSegment(0, [64, 64], DType.I8, TensorOp.QuantizeValues([1], DType.BF16), [ViewPart.Whole("w", [64, 64], Box.Full([64, 64]))]);
        Plan plan = Planner.Build(One(values), catalog, new PlanOptions(3, BufferBudget.Minimum));
        Assert.That(plan.Ranks.SelectMany(r => r.Items).SelectMany(i => i.Chunks).Count(c => c.Reduces.Length > 0), Is.EqualTo(1));

        SourceCatalog big = Sharded(256, 256);
        var tooBig = new ViewSegment(0, [256, 256], DType.I8, TensorOp.QuantizeValues([1], DType.BF16), [ViewPart.Whole("w", [256, 256], Box.Full([256, 256]))]);
        Assert.That(() => Planner.Build(One(tooBig), big, new PlanOptions(1, BufferBudget.Minimum)),
            Throws.TypeOf<UnsupportedCheckpointException>().With.Message.Contains("one buffer pass").And.Message.Contains("needs a buffer of"));
    }

    [Test]
    public void Chunks_stop_near_the_target_size_while_a_quantized_record_takes_the_whole_budget()
    {
        // A 32 MiB bf16 matrix copied, then quantized whole (117 MB of buffer), with a 128 MiB budget (the default direct split).
        const long rows = 4096, cols = 4096;
        SourceCatalog catalog = Sharded(rows, cols);
        IReadOnlyList<ViewPart> parts = [ViewPart.Whole("w", [rows, cols], Box.Full([rows, cols]))];
        var copy = new ViewSegment(0, [rows, cols], DType.BF16, TensorOp.Copy, parts);
        var values = new ViewSegment(0, [rows, cols], DType.I8, TensorOp.QuantizeValues([0], DType.BF16), parts);
        int budget = BufferBudget.Direct(BufferBudget.Default).ChunkBytes;
        Plan plan = Planner.Build(new OutputLayout([new OutputFile("copy", copy.Length, [copy], []), new OutputFile("q", values.Length, [values], [])]),
                                  catalog, new PlanOptions(1, budget, RequireAllSourceTensorsConsumed: false));
        Chunk[] chunks = plan.Ranks[0].Items.SelectMany(i => i.Chunks).ToArray();
        Chunk[] copies = chunks.Where(c => plan.Files[c.File].RelativePath == "copy").ToArray();
        Assert.That(copies, Has.Length.GreaterThanOrEqualTo(2), "32 MiB in chunks of at most 16 MiB");
        Assert.That(copies.Max(c => c.BufferBytes), Is.LessThanOrEqualTo(BufferBudget.PreferredChunkBytes));
        Chunk pass = chunks.Single(c => plan.Files[c.File].RelativePath == "q");
        Assert.That(pass.BufferBytes, Is.GreaterThan(BufferBudget.PreferredChunkBytes).And.LessThanOrEqualTo(budget), "one pass over the whole record");
    }

    [TestCase(1L << 30, 128 << 20, 16 << 20, TestName = "A 1 GB model: 16 MiB chunks")]
    [TestCase(810_000_000_000L, 128 << 20, 128 << 20, TestName = "Llama 405B: a power of two near 8192 chunks, here the whole half buffer")]
    [TestCase(150_000_000_000L, 128 << 20, 32 << 20, TestName = "A 70B model: 32 MiB")]
    [TestCase(1L << 30, 4 << 20, 4 << 20, TestName = "Never past the budget")]
    public void The_target_chunk_size_keeps_plans_near_8192_chunks(long total, int budget, int expected) =>
        Assert.That(BufferBudget.TargetChunkBytes(total, budget), Is.EqualTo(expected));

    [Test]
    public void Scales_written_with_their_values_are_computed_in_the_values_pass_from_one_read()
    {
        SourceCatalog catalog = Sharded(64, 64);
        IReadOnlyList<ViewPart> parts = [ViewPart.Whole("w", [64, 64], Box.Full([64, 64]))];
        var values = new ViewSegment(0, [64, 64], DType.I8, TensorOp.QuantizeValues([0], DType.BF16), parts);
        var scales = new ViewSegment(0, [64, 64], DType.BF16, TensorOp.QuantizeScales([0], DType.BF16), parts);
        OutputFile Values() => new("q/0.0", values.Length, [values], []);
        OutputFile Scales(ViewSegment s) => new("s/0.0", s.Length, [s], []) { WrittenWith = "q/0.0" };

        Plan plan = Planner.Build(new OutputLayout([Values(), Scales(scales)]), catalog, new PlanOptions(2, BufferBudget.Minimum));
        Chunk[] chunks = plan.Ranks.SelectMany(r => r.Items).SelectMany(i => i.Chunks).ToArray();
        Chunk pass = chunks.Single();
        Assert.That(plan.Files[pass.File].RelativePath, Is.EqualTo("q/0.0"));
        Assert.That(pass.Companions.Select(c => plan.Files[c.File].RelativePath), Is.EqualTo(new[] { "s/0.0" }));
        Assert.That(pass.Companions[0].Length, Is.EqualTo(64 * 2), "one bf16 scale per column");
        Assert.That(pass.BytesRead, Is.EqualTo(64 * 64 * 2), "the source once, for values and scales");
        Assert.That(pass.Reduces.Select(r => r.Op.Kind), Is.EqualTo(new[] { TensorOpKind.QuantizeValues, TensorOpKind.QuantizeScales }));
        Assert.That(pass.Companions[0].BufferOffset + pass.Companions[0].Length, Is.LessThanOrEqualTo(pass.BufferBytes));
        int owner = plan.Ranks.Single(r => r.Items.Count > 0).Rank;
        Assert.That(plan.FileOwners, Is.EqualTo(new[] { owner, owner }), "the rank of the pass creates both files");
        Assert.That(plan.Ranks[owner].BytesWritten, Is.EqualTo(values.Length + scales.Length));

        // Scales of other parts, or another arithmetic, are a writer bug: refused before a byte is read.
        var shifted = scales with { Parts = [ViewPart.Whole("w", [64, 64], Box.Full([64, 64])) with { Permutation = [1, 0] }] };
        var otherAxis = scales with { Op = TensorOp.QuantizeScales([1], DType.BF16) };
        foreach (ViewSegment wrong in new[] { shifted, otherAxis })
            Assert.That(() => Planner.Build(new OutputLayout([Values(), Scales(wrong)]), catalog, new PlanOptions(1, BufferBudget.Minimum)),
                Throws.InvalidOperationException.With.Message.Contains("plan bug").And.Message.Contains("s/0.0"));
        Assert.That(() => Planner.Build(new OutputLayout([Scales(scales)]), catalog, new PlanOptions(1, BufferBudget.Minimum)),
            Throws.InvalidOperationException.With.Message.Contains("q/0.0"));
    }

    [Test]
    public void Parts_that_overlap_or_leave_a_gap_or_do_not_match_are_refused()
    {
        SourceCatalog catalog = Sharded(8, 8);
        var part = ViewPart.Whole("w", [8, 8], Box.Full([8, 8]));
        var twice = new ViewSegment(0, [16, 8], DType.BF16, TensorOp.Copy, [part with { Destination = new Box([0, 0], [8, 8]) }, part with { Destination = new Box([4, 0], [8, 8]) }]);
        Assert.That(() => Planner.Build(One(twice), catalog, new PlanOptions(1, BufferBudget.Minimum)), Throws.InvalidOperationException.With.Message.Contains("same elements"));
        var gap = new ViewSegment(0, [16, 8], DType.BF16, TensorOp.Copy, [part]);
        Assert.That(() => Planner.Build(One(gap), catalog, new PlanOptions(1, BufferBudget.Minimum)), Throws.InvalidOperationException.With.Message.Contains("fill 64"));
        var mismatch = new ViewSegment(0, [8, 8], DType.BF16, TensorOp.Copy, [part with { Box = new Box([0, 0], [4, 8]) }]);
        Assert.That(() => Planner.Build(One(mismatch), catalog, new PlanOptions(1, BufferBudget.Minimum)), Throws.TypeOf<ShapeMismatchException>());
    }

    [Test]
    public void A_tensor_only_partly_read_by_view_parts_is_reported_when_everything_must_be_written()
    {
        SourceCatalog catalog = Sharded(8, 8);
        var half = new ViewSegment(0, [4, 8], DType.BF16, TensorOp.Copy, [new ViewPart("w", [8, 8], new Box([0, 0], [4, 8]), [0, 1], Box.Full([4, 8]))]);
        Assert.That(() => Planner.Build(One(half), catalog, new PlanOptions(1, BufferBudget.Minimum)),
            Throws.TypeOf<UnsupportedCheckpointException>().With.Message.Contains("never writes"));
        var other = half with { Offset = half.Length, Parts = [half.Parts[0] with { Box = new Box([4, 0], [4, 8]) }] };
        Assert.That(() => Planner.Build(One(half, other), catalog, new PlanOptions(1, BufferBudget.Minimum)), Throws.Nothing);
    }

    [Test]
    public void Box_pieces_that_overlap_are_refused_naming_the_file()
    {
        var catalog = new SourceCatalog("/none",
        [
            new SourceTensor("w", DType.BF16, [4, 4],
            [
                new SourcePiece("a.bin", 0, DType.BF16, new Box([0, 0], [4, 3]), [4, 4], null),
                new SourcePiece("b.bin", 0, DType.BF16, new Box([0, 2], [4, 2]), [4, 4], null),
            ]),
        ]);
        var record = new TensorSegment(0, "w", 0, 16, DType.BF16);
        Assert.That(() => Planner.Build(One(record), catalog, new PlanOptions(1, BufferBudget.Minimum)),
            Throws.TypeOf<CheckpointFormatException>().With.Message.Contains("b.bin"));
    }

    [Test]
    public void Job_inputs_carry_box_pieces_and_keep_flat_pieces_as_they_were()
    {
        SourceCatalog sharded = Sharded(6, 4);
        var transposed = new SourcePiece("t.bin", 8, DType.F32, new Box([0, 2, 0], [3, 1, 4]), [3, 2, 4], [2, 0, 1]);
        var catalog = new SourceCatalog("/r", [.. sharded.Tensors, new SourceTensor("t", DType.F32, [6, 4], [transposed]),
                                               new SourceTensor("flat", DType.BF16, [5], [new SourcePiece(0, 5, "f.bin", 16, DType.BF16)])]);
        byte[] message = new JobInputs(catalog, new Ckptmpi.Formats.SourceFacts { Format = "test" }).Serialize();
        SourceCatalog back = JobInputs.Deserialize(message).Catalog;
        SourcePiece t = back["t"].Pieces.Single();
        Assert.That((t.Box, t.Split, t.Permutation, t.ByteOffset, t.StoredDType), Is.EqualTo((transposed.Box, transposed.Split, transposed.Permutation, 8L, DType.F32)));
        Assert.That(back["w"].Pieces.Select(p => p.Box), Is.EqualTo(sharded["w"].Pieces.Select(p => p.Box)));
        SourcePiece flat = back["flat"].Pieces.Single();
        Assert.That((flat.IsFlat, flat.FirstElement, flat.ElementCount), Is.EqualTo((true, 0L, 5L)));
        string json = System.Text.Encoding.UTF8.GetString(message);
        Assert.That(json, Does.Contain("{\"First\":0,\"Count\":5,\"File\":\"f.bin\",\"Offset\":16,\"Stored\":3}"), "a flat piece is the five fields it always was");
    }
}
