// Single-core throughput of ckptmpi's kernels against a page-cache read of the same bytes (tests/bench/kernels.sh).
// Usage: KernelBench [MiB=256] [chunkKiB=4096] [passes=40]. GB/s are 1e9 *source* bytes per second.
// Each pass handles one 16 MiB window and the best pass counts: on a shared, loaded machine only the fastest
// windows ran undisturbed, and per-core peak throughput is what the bar is about.
using System.Diagnostics;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Checksums;
using Ckptmpi.Tensors.Kernels;
using Ckptmpi.Tensors.Layout;

int mib = args.Length > 0 ? int.Parse(args[0]) : 256;
int chunk = (args.Length > 1 ? int.Parse(args[1]) : 4096) * 1024;
int passes = args.Length > 2 ? int.Parse(args[2]) : 40;
long total = (long)mib << 20;
const int Window = 16 << 20;  // bytes per timed pass
const int HotBytes = 1 << 20; // a chunk that stays in L2: the kernel's own speed, as right after reading that chunk

var rng = new Random(1);
byte[] src = new byte[total];
var f = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(src.AsSpan());
for (int i = 0; i < f.Length; i++) f[i] = (float)(rng.NextDouble() * 2 - 1); // weights-like values
byte[] dst = new byte[chunk * 2];

string file = Path.Combine(Path.GetTempPath(), $"ckptmpi-bench-{Environment.ProcessId}.bin");
File.WriteAllBytes(file, src);
using var handle = File.OpenHandle(file, FileMode.Open, FileAccess.Read);
byte[] readBuf = new byte[chunk];
int windows = (int)(total / Window);

// Runs pass(windowStart) on successive windows (cycling through the whole source, so "cold" windows really are
// cold), returns the best GB/s.
double Best(Action<long> pass)
{
    pass(0);
    double best = double.MaxValue;
    for (int p = 0; p < passes; p++)
    {
        long start = (long)(p % windows) * Window;
        var sw = Stopwatch.StartNew();
        pass(start);
        best = Math.Min(best, sw.Elapsed.TotalSeconds);
    }
    return Window / best / 1e9;
}

double readGbps = Best(start => { for (long at = start; at < start + Window; at += chunk) RandomAccess.Read(handle, readBuf, at); });
Console.WriteLine($"source {mib} MiB, one core, best of {passes} passes of {Window >> 20} MiB; GB/s = 1e9 source bytes per second; {Environment.ProcessorCount} cores, load {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");
Console.WriteLine($"page-cache read: {readGbps:F2} GB/s (RandomAccess.Read of a cached file, {chunk >> 10} KiB reads into one buffer)");
Console.WriteLine("kernel                  hot GB/s  x read   cold GB/s  x read   read+kernel GB/s");
Console.WriteLine("                        (1 MiB in cache)    (streaming RAM)     (read a chunk, then process it)");

void Measure(string name, Action<ReadOnlyMemory<byte>> kernel)
{
    double hot = Best(_ => { for (long at = 0; at < Window; at += HotBytes) kernel(src.AsMemory(0, HotBytes)); });
    double cold = Best(start => { for (long at = start; at < start + Window; at += chunk) kernel(src.AsMemory((int)at, chunk)); });
    double piped = Best(start =>
    {
        for (long at = start; at < start + Window; at += chunk)
        {
            RandomAccess.Read(handle, readBuf, at);
            kernel(readBuf);
        }
    });
    Console.WriteLine($"{name,-22} {hot,9:F2} {hot / readGbps,6:F2}x {cold,10:F2} {cold / readGbps,6:F2}x {piped,12:F2} ({piped / readGbps:F2}x read alone)");
}

(DType From, DType To)[] casts =
[
    (DType.BF16, DType.F32), (DType.F32, DType.BF16), (DType.F16, DType.F32), (DType.F32, DType.F16),
    (DType.BF16, DType.F16), (DType.F16, DType.BF16), (DType.F64, DType.F32), (DType.F32, DType.F64), (DType.BF16, DType.BF16),
];
foreach ((DType from, DType to) in casts)
{
    Measure($"cast {from}->{to}", m =>
    {
        int outBytes = m.Length / from.SizeInBytes() * to.SizeInBytes();
        Cast.Convert(m.Span, from, dst.AsSpan(0, outBytes), to);
    });
}
// Bulk CRC-32: ckptmpi's own engine (PCLMULQDQ folding, slice-by-8 fallback) against System.IO.Hashing's, the
// well-kept library one; ckptmpi keeps whichever is faster here (its own, when last measured), and needs its own
// Combine either way.
var crc = new Crc32();
Measure("crc32 (ckptmpi)", m => crc.Append(m.Span));
var library = new System.IO.Hashing.Crc32();
Measure("crc32 System.IO.Hashing", m => library.Append(m.Span));

// View records: the gather kernel moves staged source bytes to the output area inside one buffer. The bar: the tiled
// transpose (MaxText's [heads*hd, embed] -> [embed, heads, hd], a transposed shard) at >= 0.5x a plain copy of the
// same bytes in the same buffer.
Console.WriteLine("gather (inside one buffer)   GB/s   x copy   (bf16 matrix [rows, 1024], GB/s = 1e9 bytes moved per second)");
foreach (int bytes in new[] { HotBytes, chunk })
{
    byte[] buf = new byte[2 * bytes];
    src.AsSpan(0, bytes).CopyTo(buf);
    long cols = 1024, rows = bytes / 2 / cols;
    double Rate(Action move)
    {
        move();
        double best = double.MaxValue;
        int reps = Math.Max(1, Window / bytes);
        for (int p = 0; p < passes; p++)
        {
            var sw = Stopwatch.StartNew();
            for (int r = 0; r < reps; r++) move();
            best = Math.Min(best, sw.Elapsed.TotalSeconds / reps);
        }
        return bytes / best / 1e9;
    }
    double copy = Rate(() => buf.AsSpan(0, bytes).CopyTo(buf.AsSpan(bytes, bytes)));
    double rowsGather = Rate(() => Gather.Run(buf, 0, [rows * cols / 8, cols / 8, 1], bytes, [cols / 8, cols, 1], [8, rows, cols / 8], DType.BF16, DType.BF16));
    double transpose = Rate(() => Gather.Run(buf, 0, [1, cols], bytes, [rows, 1], [cols, rows], DType.BF16, DType.BF16));
    double transposeCast = Rate(() => Gather.Run(buf, 0, [1, cols], bytes, [rows, 1], [cols, rows / 2], DType.BF16, DType.BF16, 0.5f));
    string size = $"{bytes >> 10} KiB";
    Console.WriteLine($"plain copy {size,-17} {copy,6:F2}   1.00x");
    Console.WriteLine($"rows of a dim-1 shard {size,-7}{rowsGather,6:F2} {rowsGather / copy,6:F2}x");
    Console.WriteLine($"tiled transpose {size,-12} {transpose,6:F2} {transpose / copy,6:F2}x");
    Console.WriteLine($"transpose + scale {size,-10} {transposeCast / 2,6:F2} {transposeCast / 2 / copy,6:F2}x (half the matrix, same bytes)");
}
// Int8 quantization as MaxText's AQT does it (per-channel absmax over axis 0 of a [embed, out] kernel, bf16 scales):
// the values and the scales of one record, GB/s of fp32 input per core (the record is staged as fp32 in the buffer).
Console.WriteLine("quantize (fp32 record in the buffer)  GB/s of fp32 input");
foreach (int bytes in new[] { HotBytes, chunk })
{
    int n = bytes / sizeof(float);
    long cols = 1024, rows = n / cols;
    float[] x = f.Slice(0, n).ToArray();
    byte[] q = new byte[n], scales = new byte[cols * 2];
    double best = double.MaxValue;
    int reps = Math.Max(1, Window / bytes);
    foreach (bool warm in new[] { true, false })
    for (int p = 0; p < (warm ? 1 : passes); p++)
    {
        var sw = Stopwatch.StartNew();
        for (int r = 0; r < reps; r++)
        {
            Quantize.Run(x, [rows, cols], [0], DType.BF16, scales: false, q, QuantizeRule.AqtReciprocal);
            Quantize.Run(x, [rows, cols], [0], DType.BF16, scales: true, scales, QuantizeRule.AqtReciprocal);
        }
        if (!warm) best = Math.Min(best, sw.Elapsed.TotalSeconds / reps);
    }
    Console.WriteLine($"AQT int8 values + scales {bytes >> 10} KiB {bytes / best / 1e9,6:F2}");
}
File.Delete(file);
