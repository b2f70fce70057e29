using Ckptmpi.Conversion.Verify;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Kernels;
using Ckptmpi.Tensors.Layout;
using Ckptmpi.Tensors.Views;

namespace Ckptmpi.Tests.Conversion.Verify;

/// <summary>
/// <c>verify --against</c> reads canonical elements through the converter's own planner and gather kernel, so any
/// piece shape reads back: shards along dim 1 stored row-major or transposed equal the whole tensor stored flat.
/// </summary>
public sealed class TensorReaderTests
{
    private string _dir = null!;

    [SetUp]
    public void SetUp() => _dir = TestPaths.NewTempDir();

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    [TestCase(false), TestCase(true)]
    public void Ranges_of_a_tensor_in_dim_1_shards_read_as_the_flat_tensor(bool transposed)
    {
        const long Rows = 37, Cols = 53;
        var rng = new Random(7);
        var values = new float[Rows * Cols];
        for (int i = 0; i < values.Length; i++) values[i] = (float)(rng.NextDouble() - 0.5);
        File.WriteAllBytes(Path.Combine(_dir, "flat.bin"), System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray());

        long[] cuts = [0, 11, 30, Cols];
        var pieces = new List<SourcePiece>();
        for (int s = 0; s + 1 < cuts.Length; s++)
        {
            long width = cuts[s + 1] - cuts[s];
            var bytes = new List<byte>();
            for (long i = 0; i < (transposed ? width : Rows); i++)
            for (long j = 0; j < (transposed ? Rows : width); j++)
                bytes.AddRange(BitConverter.GetBytes(transposed ? values[j * Cols + cuts[s] + i] : values[i * Cols + cuts[s] + j]));
            File.WriteAllBytes(Path.Combine(_dir, $"shard{s}.bin"), bytes.ToArray());
            pieces.Add(new SourcePiece($"shard{s}.bin", 0, DType.F32, new Box([0, cuts[s]], [Rows, width]), [Rows, Cols], transposed ? [1, 0] : null));
        }
        var sharded = new SourceCatalog(_dir, [new SourceTensor("w", DType.F32, [Rows, Cols], pieces)]);
        var flat = new SourceCatalog(_dir, [new SourceTensor("w", DType.F32, [Rows, Cols], [new SourcePiece(0, Rows * Cols, "flat.bin", 0, DType.F32)])]);

        using var reader = new TensorReader(sharded);
        foreach ((long first, long count) in new[] { (0L, Rows * Cols), (5L, 3L), (50L, 200L), (Cols, Cols * 3), (Rows * Cols - 1, 1L) })
        {
            var got = new byte[count * 2];
            reader.Read(sharded["w"], first, DType.BF16, got);
            var want = new byte[count * 2];
            Cast.Convert(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan((int)first, (int)count)), DType.F32, want, DType.BF16);
            Assert.That(got, Is.EqualTo(want), $"elements [{first}, {first + count})");
        }
        Assert.That(CatalogComparer.Compare(flat, sharded), Is.Empty);
    }
}
