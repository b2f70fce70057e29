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

void Report(string name, double gbps, double read) =>
    Console.WriteLine($"{name,-22} {gbps,7:F2} GB/s  {gbps / read,5:F2}x page-cache read  {(gbps >= read ? "ok" : "SLOWER")}");

double readGbps;
using (var handle = File.OpenHandle(file, FileMode.Open, FileAccess.Read))
{
    byte[] buf = new byte[chunk];
    readGbps = Best(() =>
    {
        for (long at = 0; at < total; at += chunk) RandomAccess.Read(handle, buf, at);
    });
}
File.Delete(file);
Console.WriteLine($"source {mib} MiB in {chunk >> 10} KiB chunks, one core, best of {Passes}; GB/s = 1e9 source bytes per second");
Console.WriteLine($"{"page-cache read",-22} {readGbps,7:F2} GB/s  (RandomAccess.Read of a cached file into a buffer)");

(DType From, DType To)[] casts =
[
    (DType.BF16, DType.F32), (DType.F32, DType.BF16), (DType.F16, DType.F32), (DType.F32, DType.F16),
    (DType.BF16, DType.F16), (DType.F16, DType.BF16), (DType.F64, DType.F32), (DType.F32, DType.F64), (DType.BF16, DType.BF16),
];
foreach ((DType from, DType to) in casts)
{
    int outChunk = chunk / from.SizeInBytes() * to.SizeInBytes();
    double g = Best(() =>
    {
        for (long at = 0; at < total; at += chunk)
            Cast.Convert(src.AsSpan((int)at, chunk), from, dst.AsSpan(0, outChunk), to);
    });
    Report($"cast {from}->{to}", g, readGbps);
}
var crc = new Crc32();
Report("crc32 (pclmul)", Best(() => { crc.Reset(); for (long at = 0; at < total; at += chunk) crc.Append(src.AsSpan((int)at, chunk)); }), readGbps);
var xxh = new XxHash64();
Report("xxh64", Best(() => { xxh.Reset(); for (long at = 0; at < total; at += chunk) xxh.Append(src.AsSpan((int)at, chunk)); }), readGbps);
