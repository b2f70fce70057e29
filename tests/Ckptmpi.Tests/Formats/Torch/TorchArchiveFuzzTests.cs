using System.Diagnostics;
using Ckptmpi.Errors;
using Ckptmpi.Formats.Torch;
using Ckptmpi.Formats.Torch.Pickle;
using Ckptmpi.Tensors;

namespace Ckptmpi.Tests.Formats.Torch;

/// <summary>
/// Mutation fuzzing: thousands of seeded mutations of valid files (ours and DeepSpeed's). Only our two exception
/// types may escape; no crash, no hang, no large allocation. The seed is printed so a failure can be replayed.
/// </summary>
public sealed class TorchArchiveFuzzTests
{
    // Override with CKPTMPI_FUZZ_SEED (replay a failure) and CKPTMPI_FUZZ_ITERATIONS (longer runs).
    private static readonly int Iterations = int.TryParse(Environment.GetEnvironmentVariable("CKPTMPI_FUZZ_ITERATIONS"), out int n) ? n : 10_000;
    private static readonly TimeSpan PerCaseLimit = TimeSpan.FromSeconds(2);

    private static IEnumerable<(string Name, byte[] Bytes)> Corpus()
    {
        var root = new PyDict(isOrdered: true) { State = new PyDict { Items = { new(new PyString("_metadata"), new PyDict(isOrdered: true)) } } };
        root.Add("w", TorchTestData.Contiguous("0", DType.BF16, 4, 3));
        root.Add("view", new PyTensor(new TorchStorage("0", DType.BF16, 12), 3, [3], [2]));
        root.Add("scaler", TorchGlobals.MakeInstance(TorchGlobals.LossScaler, new PyDict { Items = { new(new PyString("cur_scale"), new PyFloat(1)) } }));
        root.Add("stage", TorchGlobals.MakeZeroStage(2));
        root.Add("list", new PyList([new PyInt(1L << 40), new PyBytes([1, 2]), TorchGlobals.MakeSize(2, 2), PyNone.Instance]));
        yield return ("ours", TorchArchiveWriter.ToBytes(root, "fuzz", s => TorchTestData.StorageBytes(s)));
        string ds = Path.Combine(TestPaths.Fixtures, "deepspeed", "z2_w2_bf16", "global_step1");
        yield return ("ds-model", File.ReadAllBytes(Path.Combine(ds, "mp_rank_00_model_states.pt")));
    }

    [Test]
    public void Thousands_of_mutated_files_fail_only_with_our_exceptions_and_quickly()
    {
        int seed = int.TryParse(Environment.GetEnvironmentVariable("CKPTMPI_FUZZ_SEED"), out int fixedSeed) ? fixedSeed : TestContext.CurrentContext.Random.Next();
        TestContext.Out.WriteLine($"fuzz seed {seed} (replay: CKPTMPI_FUZZ_SEED={seed})");
        var rng = new Random(seed);
        var corpus = Corpus().ToList();
        foreach (var (name, bytes) in corpus) Assert.That(() => Open(bytes), Throws.Nothing, $"{name} must be valid before mutation");

        int accepted = 0, rejected = 0;
        var total = Stopwatch.StartNew();
        for (int i = 0; i < Iterations; i++)
        {
            var (name, original) = corpus[i % corpus.Count];
            byte[] mutated = Mutate(rng, original);
            long allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
            var watch = Stopwatch.StartNew();
            try
            {
                Open(mutated);
                accepted++;
            }
            catch (CheckpointFormatException) { rejected++; }
            catch (UnsupportedCheckpointException) { rejected++; }
            catch (Exception e)
            {
                Assert.Fail($"seed {seed}, case {i} ({name}): {e.GetType().Name}: {e.Message}\n{e.StackTrace}");
            }
            Assert.That(watch.Elapsed, Is.LessThan(PerCaseLimit), $"seed {seed}, case {i} ({name}) took too long");
            long allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
            Assert.That(allocated, Is.LessThan(16L * mutated.Length + (8 << 20)), $"seed {seed}, case {i} ({name}) allocated {allocated} bytes");
        }
        TestContext.Out.WriteLine($"{Iterations} cases in {total.Elapsed.TotalSeconds:F1} s: {accepted} still valid, {rejected} rejected with our exceptions");
        Assert.That(rejected, Is.GreaterThan(Iterations / 4), "mutations must actually hit the parsers");
    }

    private static void Open(byte[] bytes)
    {
        TorchArchive a = TorchArchive.Open(new MemoryByteSource(bytes, "fuzz.pt"));
        // Whatever opened must be writable again: the graph is sound (no cycles, bounded depth, consistent storages).
        _ = TorchArchiveLayout.Plan(a.Root, "again");
    }

    private static byte[] Mutate(Random rng, byte[] original)
    {
        byte[] b = (byte[])original.Clone();
        int kind = rng.Next(6);
        switch (kind)
        {
            case 0: // flip a few random bits
                for (int k = rng.Next(1, 8); k > 0; k--) b[rng.Next(b.Length)] ^= (byte)(1 << rng.Next(8));
                break;
            case 1: // truncate
                return b[..rng.Next(b.Length)];
            case 2: // boundary values over a 1/2/4/8-byte field
                {
                    int width = 1 << rng.Next(4);
                    int at = rng.Next(b.Length - width);
                    byte fill = rng.Next(3) switch { 0 => 0x00, 1 => 0xFF, _ => 0x7F };
                    b.AsSpan(at, width).Fill(fill);
                    break;
                }
            case 3: // mutate inside the first 4 KiB (headers and most of the pickle)
                for (int k = rng.Next(1, 4); k > 0; k--) b[rng.Next(Math.Min(b.Length, 4096))] = (byte)rng.Next(256);
                break;
            case 4: // mutate inside the tail (central directory and end records)
                for (int k = rng.Next(1, 4); k > 0; k--) b[b.Length - 1 - rng.Next(Math.Min(b.Length, 1024))] = (byte)rng.Next(256);
                break;
            default: // delete or duplicate a slice
                {
                    int at = rng.Next(b.Length), len = rng.Next(1, 64);
                    len = Math.Min(len, b.Length - at);
                    return rng.Next(2) == 0 ? [.. b[..at], .. b[(at + len)..]] : [.. b[..(at + len)], .. b[at..]];
                }
        }
        return b;
    }
}
