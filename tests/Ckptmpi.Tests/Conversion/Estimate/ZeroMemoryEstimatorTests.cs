using System.Text.Json;
using Ckptmpi.Conversion.Estimate;

namespace Ckptmpi.Tests.Conversion.Estimate;

public sealed class ZeroMemoryEstimatorTests
{
    // Llama-3.3-70B without lm_head: embed_tokens is the largest module (128256 x 8192).
    private const long Total70bAutoModel = 69_503_033_344, Largest70b = 1_050_673_152;

    [Test]
    public void Zero3_table_for_llama_3_3_70b_on_4_nodes_of_12_gpus_matches_deepspeeds_printout_digit_for_digit()
    {
        DeepSpeedReferenceTable reference = DeepSpeedReferenceTable.Load();
        var rows = ZeroMemoryEstimator.Zero3Rows(Total70bAutoModel, Largest70b, reference.GpusPerNode, reference.Nodes);
        string text = DeepSpeedTable.Zero3(Total70bAutoModel, Largest70b, reference.GpusPerNode, reference.Nodes, rows);
        Assert.That(text, Is.EqualTo(reference.ExpectedDeepSpeedText()));
    }

    [Test]
    public void Zero3_first_row_is_18_bytes_per_parameter_per_node_with_the_buffer_factor()
    {
        var (cpu, gpu, layer) = ZeroMemoryEstimator.Zero3(Total70bAutoModel, Largest70b, 12, 4, offloadOptimizer: true, offloadParams: true, zeroInit: true);
        Assert.That(cpu, Is.EqualTo(Total70bAutoModel * 18 / 4 * 3 / 2));
        Assert.That(gpu, Is.EqualTo(4 * Largest70b));
        Assert.That(layer, Is.EqualTo(4 * Largest70b));
    }

    [Test]
    public void Zero2_rows_follow_deepspeed_0_14_4_formulas()
    {
        var rows = ZeroMemoryEstimator.Zero2Rows(Total70bAutoModel, 12, 4);
        Assert.That(rows[0].GpuBytes, Is.EqualTo(2 * Total70bAutoModel));
        Assert.That(rows[0].CpuBytes, Is.EqualTo(Total70bAutoModel * 4 * 48 * 3 / 2));
        Assert.That(rows[1].GpuBytes, Is.EqualTo(2 * Total70bAutoModel + 18 * Total70bAutoModel / 48));
        Assert.That(rows[1].CpuBytes, Is.EqualTo(Total70bAutoModel * 4 * 12 * 3 / 2));
        Assert.That(rows.Select(r => r.Options), Is.EqualTo(new[] { "offload_optimizer=cpu ", "offload_optimizer=none" }));
    }

    [Test]
    public void Singular_node_and_gpu_are_spelled_as_deepspeed_spells_them()
    {
        string text = DeepSpeedTable.Zero2(1_000_000, 1, 1, ZeroMemoryEstimator.Zero2Rows(1_000_000, 1, 1));
        Assert.That(text.Split('\n')[1], Is.EqualTo("HW: Setup with 1 node, 1 GPU per node."));
        Assert.That(text.Split('\n')[2], Is.EqualTo("SW: Model with 1M total params."));
    }

    [Test]
    public void Random_setups_print_exactly_what_python_prints_for_the_same_formulas()
    {
        // Python restates DeepSpeed's arithmetic (int/float mixing, int() truncation, f"{x:7.2f}") in the real
        // interpreter; we compare whole printed lines. Seeded; the seed is printed for replay.
        int seed = TestContext.CurrentContext.Random.Next();
        TestContext.Out.WriteLine($"seed {seed}");
        var random = new Random(seed);
        var cases = new List<object[]>
        {
            // 4 * 2^25 bytes = 0.125 GiB: an exact tie, which Python rounds to even ("0.12").
            new object[] { 1L << 30, 1L << 25, 1, 1, 1.5 },
            new object[] { 3L << 28, 3L << 24, 2, 1, 1.0 },
            new object[] { 405_853_388_800L, 2_101_346_304L, 4, 16, 1.5 },
            new object[] { 1_235_814_400L, 262_668_288L, 1, 1, 1.5 },
            new object[] { 999_999L, 999_999L, 3, 5, 1.1 },
        };
        for (int i = 0; i < 40; i++)
        {
            long total = random.NextInt64(1, 2_000_000_000_000);
            cases.Add([total, random.NextInt64(0, total + 1), random.Next(1, 17), random.Next(1, 65), Math.Round(random.NextDouble() * 3 + 0.5, random.Next(0, 4))]);
        }

        string python = TestPaths.RunPython("""
            import json, sys
            def z3(total, largest, g, n, opt, par, zi, f):
                gpus = n * g
                per_node = 1 / n
                layer = 4 * largest
                if opt:
                    k = 18 if par else 16
                    gpu = layer if par else layer + int(2 * total / gpus)
                    cpu = total * k * per_node * f if zi else total * max(4 * g, k * per_node) * f
                else:
                    gpu = layer + int(18 * total / gpus)
                    cpu = (largest if zi else total) * 4 * g * f
                return int(cpu), int(gpu)
            def z2(total, g, n, opt, f):
                gpus = n * g
                if opt:
                    return int(total * max(4 * gpus, 16) * f), 2 * total
                return int(total * 4 * g * f), 2 * total + int(18 * total / gpus)
            def line(cpu, gpu, opts):
                return f" {cpu/2**30:7.2f}GB | {gpu/2**30:6.2f}GB | {opts}"
            dev = lambda on: "cpu " if on else "none"
            out = []
            for total, largest, g, n, f in json.loads(sys.argv[1]):
                f = float(f)  # DeepSpeed's factor is a float; JSON may have written 1.0 as 1
                lines = [f"SW: Model with {int(total/1e6)}M total params, {int(largest/1e6)}M largest layer params."]
                for opt in (True, False):
                    for par in (True, False):
                        if par and not opt:
                            continue
                        for zi in (True, False):
                            lines.append(line(*z3(total, largest, g, n, opt, par, zi, f),
                                              f"offload_param={dev(par)}, offload_optimizer={dev(opt)}, zero_init={int(zi)}"))
                for opt in (True, False):
                    lines.append(line(*z2(total, g, n, opt, f), f"offload_optimizer={dev(opt)}"))
                out.append(lines)
            print(json.dumps(out))
            """, JsonSerializer.Serialize(cases));
        var expected = JsonSerializer.Deserialize<List<List<string>>>(python)!;

        for (int c = 0; c < cases.Count; c++)
        {
            long total = (long)cases[c][0], largest = (long)cases[c][1];
            int g = (int)cases[c][2], n = (int)cases[c][3];
            double f = (double)cases[c][4];
            string[] zero3 = DeepSpeedTable.Zero3(total, largest, g, n, ZeroMemoryEstimator.Zero3Rows(total, largest, g, n, f)).TrimEnd('\n').Split('\n');
            string[] zero2 = DeepSpeedTable.Zero2(total, g, n, ZeroMemoryEstimator.Zero2Rows(total, g, n, f)).TrimEnd('\n').Split('\n');
            string[] ours = [zero3[2], .. zero3[4..], .. zero2[4..]];
            Assert.That(ours, Is.EqualTo(expected[c]), $"case {c}: total={total} largest={largest} gpus/node={g} nodes={n} factor={f}");
        }
    }

    [Test]
    public void Parameter_counts_beyond_exact_reproduction_are_refused()
    {
        Assert.That(() => ZeroMemoryEstimator.Zero2(ZeroMemoryEstimator.MaxExactParameters + 1, 1, 1, true), Throws.TypeOf<ArgumentOutOfRangeException>());
        Assert.That(() => ZeroMemoryEstimator.Zero3(10, 11, 1, 1, true, true, true), Throws.TypeOf<ArgumentOutOfRangeException>(), "largest layer above total");
    }
}
