// Single-core throughput of ckptmpi's kernels against a page-cache read of the same number of bytes.
// Usage: KernelBench [MiB=256] [chunkKiB=4096]. Every figure is GB/s of *source* bytes, best of 5 passes.
using System.Diagnostics;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Checksums;
using Ckptmpi.Tensors.Kernels;

int mib = args.Length > 0 ? int.Parse(args[0]) : 256;
int chunk = (args.Length > 1 ? int.Parse(args[1]) : 4096) * 1024;
long total = (long)mib << 20;
const int Passes = 5;

var rng = new Random(1);
byte[] src = new byte[total];
// Finite floats of every dtype width: random bytes would be mostly NaN-free anyway, but keep exponents sane.
var f = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(src.AsSpan());
for (int i = 0; i < f.Length; i++) f[i] = (float)(rng.NextDouble() * 2 - 1);
byte[] dst = new byte[chunk * 2];

string file = Path.Combine(Path.GetTempPath(), $"ckptmpi-bench-{Environment.ProcessId}.bin");
File.WriteAllBytes(file, src);

double Best(Action pass)
{
    pass(); // warm-up: JIT tiering and, for the read, the page cache
    double best = double.MaxValue;
    for (int p = 0; p < Passes; p++)
    {
        var sw = Stopwatch.StartNew();
        pass();
        best = Math.Min(best, sw.Elapsed.TotalSeconds);
    }
    return total / best / 1e9;
}

const int HotBytes = 1 << 20; // a chunk that stays in L2: the kernel's own speed, as when it follows the read of that chunk

double readGbps;
using var handle = File.OpenHandle(file, FileMode.Open, FileAccess.Read);
byte[] readBuf = new byte[chunk];
readGbps = Best(() =>
{
    for (long at = 0; at < total; at += chunk) RandomAccess.Read(handle, readBuf, at);
});
Console.WriteLine($"source {mib} MiB, one core, best of {Passes}; GB/s = 1e9 source bytes per second");
Console.WriteLine($"page-cache read: {readGbps:F2} GB/s (RandomAccess.Read of a cached file, {chunk >> 10} KiB reads into one buffer)");
Console.WriteLine("kernel                  hot GB/s  x read   cold GB/s  x read   read+kernel GB/s");
Console.WriteLine("                        (1 MiB in cache)    (streaming RAM)     (read a chunk, then process it)");

void Measure(string name, Action<ReadOnlyMemory<byte>> kernel)
{
    double hot = Best(() => { for (long at = 0; at < total; at += HotBytes) kernel(src.AsMemory(0, HotBytes)); });
    double cold = Best(() => { for (long at = 0; at < total; at += chunk) kernel(src.AsMemory((int)at, chunk)); });
    double piped = Best(() =>
    {
        for (long at = 0; at < total; at += chunk)
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
var crc = new Crc32();
Measure("crc32", m => crc.Append(m.Span));
var xxh = new XxHash64();
Measure("xxh64", m => xxh.Append(m.Span));
File.Delete(file);
