using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Kernels;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Tests.Conversion;

/// <summary>
/// A seeded random source checkpoint on disk (tensors as one piece each, HF-like, or cut into fp32 pieces across
/// several files, ZeRO-like) and a random output layout over it (headers, padding, slices in other dtypes, a
/// CRC-covered range with its slots, a commit marker), plus the reference bytes every output file must hold,
/// computed element by element without the planner.
/// </summary>
internal sealed class SyntheticCheckpoint
{
    public required SourceCatalog Catalog { get; init; }
    public required OutputLayout Layout { get; init; }

    public static SyntheticCheckpoint Create(string root, int seed, bool zeroLike = false, int tensors = 12, int maxElements = 40_000)
    {
        var rng = new Random(seed);
        int sourceFiles = zeroLike ? 3 : 2;
        var writers = Enumerable.Range(0, sourceFiles).Select(i => new MemoryStream()).ToArray();
        foreach (var w in writers) w.Write(RandomBytes(rng, rng.Next(0, 100))); // a header of sorts
        var list = new List<SourceTensor>();
        for (int t = 0; t < tensors; t++)
        {
            long n = t == 0 ? 1 : rng.Next(1, maxElements);
            DType dtype = zeroLike ? DType.BF16 : (rng.Next(2) == 0 ? DType.BF16 : DType.F32);
            DType stored = zeroLike ? DType.F32 : dtype;
            var pieces = new List<SourcePiece>();
            long at = 0;
            while (at < n)
            {
                long count = zeroLike ? Math.Min(n - at, rng.Next(1, (int)n + 1)) : n;
                int file = rng.Next(sourceFiles);
                var w = writers[file];
                pieces.Add(new SourcePiece(at, count, $"part{file}.bin", w.Length, stored));
                w.Write(RandomFloats(rng, count, stored));
                at += count;
            }
            list.Add(new SourceTensor($"layers.{t}.weight", dtype, [n], pieces));
        }
        for (int i = 0; i < sourceFiles; i++) File.WriteAllBytes(Path.Combine(root, $"part{i}.bin"), writers[i].ToArray());
        var catalog = new SourceCatalog(root, list);

        // Output: each tensor cut into 1-3 slices spread over 4 files, in a random dtype, between headers and padding.
        var files = Enumerable.Range(0, 4).Select(_ => new List<OutputSegment>()).ToArray();
        var offsets = new long[4];
        var crcs = new List<Crc32Field>[4];
        for (int f = 0; f < 4; f++)
        {
            crcs[f] = [];
            Add(files[f], ref offsets[f], new LiteralSegment(0, RandomBytes(rng, 8 + rng.Next(60))));
        }
        foreach (SourceTensor t in list)
        {
            DType outType = rng.Next(3) switch { 0 => DType.F32, 1 => DType.BF16, _ => DType.F16 };
            long at = 0;
            while (at < t.ElementCount)
            {
                long count = Math.Min(t.ElementCount - at, 1 + rng.Next((int)t.ElementCount));
                int f = rng.Next(4);
                bool crc = rng.Next(4) == 0;
                long slot = offsets[f];
                if (crc) Add(files[f], ref offsets[f], new LiteralSegment(0, new byte[8]));
                long start = offsets[f];
                Add(files[f], ref offsets[f], new TensorSegment(0, t.Name, at, count, outType));
                if (crc) crcs[f].Add(new Crc32Field(new ByteRange(start, offsets[f]), [slot + 2]));
                if (rng.Next(3) == 0) Add(files[f], ref offsets[f], new ZeroSegment(0, rng.Next(1, 300)));
                at += count;
            }
        }
        var outputs = Enumerable.Range(0, 4).Select(f => new OutputFile($"out/file{f}.bin", offsets[f], files[f], crcs[f])).ToList();
        outputs.Add(new OutputFile("latest", 12, [new LiteralSegment(0, "global_step0"u8.ToArray())], []) { IsCommitMarker = true });
        return new SyntheticCheckpoint { Catalog = catalog, Layout = new OutputLayout(outputs) };
    }

    /// <summary>The bytes file <paramref name="file"/> must hold, built element by element from the source files.</summary>
    public byte[] Expected(OutputFile file)
    {
        var bytes = new byte[file.Length];
        var sources = new Dictionary<string, byte[]>();
        foreach (OutputSegment s in file.Segments)
        {
            switch (s)
            {
                case LiteralSegment l: l.Bytes.CopyTo(bytes, l.Offset); break;
                case TensorSegment t:
                    SourceTensor src = Catalog[t.Tensor];
                    int outSize = t.DType.SizeInBytes();
                    for (long e = 0; e < t.ElementCount; e++)
                    {
                        long element = t.FirstElement + e;
                        SourcePiece p = src.Pieces.Single(p => p.FirstElement <= element && element < p.FirstElement + p.ElementCount);
                        int size = p.StoredDType.SizeInBytes();
                        if (!sources.TryGetValue(p.File, out byte[]? data)) sources[p.File] = data = File.ReadAllBytes(Path.Combine(Catalog.Root, p.File));
                        var raw = data.AsSpan((int)(p.ByteOffset + (element - p.FirstElement) * size), size);
                        Cast.Convert(raw, p.StoredDType, bytes.AsSpan((int)(t.Offset + e * outSize), outSize), t.DType);
                    }
                    break;
            }
        }
        foreach (Crc32Field c in file.Crc32Fields)
        {
            uint crc = Ckptmpi.Tensors.Checksums.Crc32.Hash(bytes.AsSpan((int)c.Covered.Start, (int)c.Covered.Length));
            foreach (long w in c.WriteAt) BitConverter.TryWriteBytes(bytes.AsSpan((int)w, 4), crc);
        }
        return bytes;
    }

    private static void Add(List<OutputSegment> segments, ref long offset, OutputSegment s)
    {
        OutputSegment placed = s switch
        {
            LiteralSegment l => l with { Offset = offset },
            ZeroSegment z => z with { Offset = offset },
            TensorSegment t => t with { Offset = offset },
            _ => throw new ArgumentException(s.GetType().Name),
        };
        segments.Add(placed);
        offset += placed.Length;
    }

    private static byte[] RandomBytes(Random rng, int n)
    {
        var b = new byte[n];
        rng.NextBytes(b);
        return b;
    }

    /// <summary>Finite values of a realistic range (and a few exact ties for rounding), stored as <paramref name="t"/>.</summary>
    private static byte[] RandomFloats(Random rng, long n, DType t)
    {
        var f32 = new float[n];
        for (long i = 0; i < n; i++) f32[i] = (float)((rng.NextDouble() - 0.5) * Math.Pow(2, rng.Next(-20, 10)));
        byte[] asF32 = new byte[n * 4];
        Buffer.BlockCopy(f32, 0, asF32, 0, asF32.Length);
        if (t == DType.F32) return asF32;
        var outBytes = new byte[n * t.SizeInBytes()];
        Cast.Convert(asF32, DType.F32, outBytes, t);
        return outBytes;
    }
}
