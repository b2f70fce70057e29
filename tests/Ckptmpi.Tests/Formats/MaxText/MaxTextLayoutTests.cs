using Ckptmpi.Formats.MaxText;

namespace Ckptmpi.Tests.Formats.MaxText;

/// <summary>The pieces of the MaxText layout that do not need a conversion: chunk shapes, Orbax key strings, the query divisor.</summary>
public sealed class MaxTextLayoutTests
{
    [Test]
    public void Chunks_cut_the_layer_axis_to_1_then_the_listed_axes_to_divisors_within_the_limit()
    {
        // A scanned 405B query kernel [h, L, nq, d]: one layer per chunk, then heads until 32 MiB of bf16.
        Assert.That(ZarrArray.ChunkShape([16384, 126, 128, 128], [2], 1, 16L << 20), Is.EqualTo(new long[] { 16384, 1, 8, 128 }));
        Assert.That(ZarrArray.ChunkShape([64, 3, 8, 8], [2], 1, 1 << 20), Is.EqualTo(new long[] { 64, 1, 8, 8 }));
        // Embedding [V, h]: rows, the largest divisor of 128256 that fits.
        Assert.That(ZarrArray.ChunkShape([128256, 16384], [0], null, 16L << 20), Is.EqualTo(new long[] { 1002, 16384 }));
        // Nothing fits: 1 on the listed axis, the others stay whole.
        Assert.That(ZarrArray.ChunkShape([8, 100], [0], null, 10), Is.EqualTo(new long[] { 1, 100 }));
        var names = ZarrArray.Chunks([4, 2, 6], [2, 2, 3]).Select(c => c.Name).ToArray();
        Assert.That(names, Is.EqualTo(new[] { "0.0.0", "0.0.1", "1.0.0", "1.0.1" }));
    }

    [Test]
    public void Zarray_and_metadata_keys_are_what_Orbax_and_TensorStore_write()
    {
        string zarray = System.Text.Encoding.UTF8.GetString(ZarrArray.Metadata([64, 3], [64, 1], Ckptmpi.Tensors.DType.BF16));
        Assert.That(zarray, Is.EqualTo("""{"chunks":[64,1],"compressor":null,"dimension_separator":".","dtype":"bfloat16","fill_value":null,"filters":null,"order":"C","shape":[64,3],"zarr_format":2}"""));
        Assert.That(OrbaxMetadata.PythonTuple(["params", "aqt", "scale", 0]), Is.EqualTo("('params', 'aqt', 'scale', '0')"));
        Assert.That(OrbaxMetadata.PythonTuple(["x"]), Is.EqualTo("('x',)"));
        Assert.That(() => OrbaxMetadata.PythonTuple(["it's"]), Throws.ArgumentException);
    }

    [TestCase(8, 2.828125f), TestCase(16, 4f), TestCase(128, 11.3125f), TestCase(64, 8f), TestCase(96, 9.8125f)]
    public void The_query_divisor_is_sqrt_head_dim_rounded_to_bf16(long headDim, float divisor) =>
        Assert.That(MaxTextTree.QueryDivisor(headDim), Is.EqualTo(divisor));
}
