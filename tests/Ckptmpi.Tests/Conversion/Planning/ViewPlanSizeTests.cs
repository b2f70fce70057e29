using System.Diagnostics;
using Ckptmpi.Conversion.Planning;
using Ckptmpi.Model;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;
using Ckptmpi.Tensors.Views;

namespace Ckptmpi.Tests.Conversion.Planning;

/// <summary>
/// The plan of a row-parallel checkpoint stays small: Llama-3.1-405B with every matrix split along dim 1 over 8
/// shard files (Megatron/Meta/NxD style), written HF-like (one record per tensor in 5 GB files) on 96 ranks with the
/// default buffer (direct I/O: chunks of up to half of it). One run per row would be 16384+ pieces per tensor; boxes give a read and a few gathers per
/// chunk and shard.
/// </summary>
public sealed class ViewPlanSizeTests
{
    private const int Shards = 8;

    [Test]
    public void Llama_405B_from_dim_1_shards_plans_quickly_with_ops_proportional_to_chunks_times_shards()
    {
        ModelConfig config = ModelConfig.Load(Path.Combine(TestPaths.Fixtures, "configs", "llama-3.1-405b.json"));
        IReadOnlyList<CanonicalTensor> canonical = LlamaFamily.Llama.CanonicalTensors(config);
        var (catalog, layout) = Build(canonical);

        var clock = Stopwatch.StartNew();
        TimeSpan cpu = Process.GetCurrentProcess().TotalProcessorTime;
        Plan plan = Planner.Build(layout, catalog, new PlanOptions(96, BufferBudget.Direct(BufferBudget.Default).ChunkBytes));
        double seconds = clock.Elapsed.TotalSeconds;
        double cpuSeconds = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds;

        Chunk[] chunks = plan.Ranks.SelectMany(r => r.Items).SelectMany(i => i.Chunks).ToArray();
        long ops = chunks.Sum(c => (long)c.Reads.Length + c.Gathers.Length + c.Casts.Length + c.Literals.Length + c.Zeros.Length);
        long splitTensors = canonical.Count(t => t.Shape.Length == 2);
        TestContext.Out.WriteLine($"405B: {canonical.Count} tensors ({splitTensors} split over {Shards} shards), {layout.Files.Count} files, " +
                                  $"{chunks.Length} chunks, {ops} ops ({chunks.Sum(c => c.Reads.Length)} reads, {chunks.Sum(c => c.Gathers.Length)} gathers), planned in {seconds:0.00} s ({cpuSeconds:0.00} s CPU)");

        Assert.That(plan.Summarize().BytesWritten, Is.EqualTo(layout.TotalBytes));
        Assert.That(plan.Ranks.Max(r => r.PeakBuffer), Is.LessThanOrEqualTo(BufferBudget.Default));
        // Each (chunk, tensor) overlap reads each shard once, and there are at most chunks + tensors such overlaps; from each
        // read it gathers at most a partial row, whole rows and a partial row.
        long reads = chunks.Sum(c => c.Reads.Length), gathers = chunks.Sum(c => c.Gathers.Length);
        Assert.That(reads, Is.LessThanOrEqualTo((chunks.Length + canonical.Count) * Shards));
        Assert.That(gathers, Is.LessThanOrEqualTo(3 * reads));
        // With the direct mode's 128 MiB chunks: 13,232 chunks, 339,818 ops.
        Assert.That(ops, Is.LessThan(400_000), "~ tensors x shards x chunks per tensor, never rows (16384+ per tensor)");
        // 1.3-1.5 s wall measured on the idle 2-core VM. CPU time, not wall time, is asserted: on a machine shared by
        // other jobs the wall clock measures them.
        Assert.That(cpuSeconds, Is.LessThan(4));
    }

    private static (SourceCatalog, OutputLayout) Build(IReadOnlyList<CanonicalTensor> canonical)
    {
        var offsets = new long[Shards];
        var tensors = new List<SourceTensor>();
        foreach (CanonicalTensor t in canonical)
        {
            var pieces = new List<SourcePiece>();
            if (t.Shape.Length == 2)
            {
                long rows = t.Shape[0], cols = t.Shape[1], width = cols / Shards;
                for (int s = 0; s < Shards; s++)
                {
                    pieces.Add(new SourcePiece($"tp{s}.bin", offsets[s], DType.BF16, new Box([0, s * width], [rows, width]), t.Shape, null));
                    offsets[s] += rows * width * 2;
                }
            }
            else
            {
                pieces.Add(new SourcePiece(0, t.ElementCount, "tp0.bin", offsets[0], DType.BF16));
                offsets[0] += t.ElementCount * 2;
            }
            tensors.Add(new SourceTensor(t.Name, DType.BF16, t.Shape, pieces));
        }

        const long ShardBytes = 5_000_000_000;
        var files = new List<OutputFile>();
        var segments = new List<OutputSegment>();
        long at = 0;
        void Flush()
        {
            files.Add(new OutputFile($"model-{files.Count + 1:00000}.safetensors", at, segments.ToList(), []));
            segments.Clear();
            at = 0;
        }
        foreach (CanonicalTensor t in canonical)
        {
            if (at == 0) { segments.Add(new LiteralSegment(0, new byte[4096])); at = 4096; }
            segments.Add(new TensorSegment(at, t.Name, 0, t.ElementCount, DType.BF16));
            at += t.ElementCount * 2;
            if (at >= ShardBytes) Flush();
        }
        if (at > 0) Flush();
        return (new SourceCatalog("/nonexistent", tensors), new OutputLayout(files));
    }
}
