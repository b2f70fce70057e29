using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using Ckptmpi.Conversion.Execution;
using Ckptmpi.Conversion.Planning;
using Ckptmpi.Parallel;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Kernels;
using Ckptmpi.Tensors.Layout;
using Ckptmpi.Tensors.Views;

namespace Ckptmpi.Tests.Conversion.Execution;

/// <summary>
/// View records run through the real planner and executor (1 and 3 in-process ranks, a 64 KiB buffer so records
/// are cut into several chunks) against what PyTorch computes from the same canonical tensors. Sources are stored
/// as shards split along dim 1 (some of them transposed on disk), so every case also proves the gather from box
/// pieces. Each case is a view record and the torch expression of the same tensor.
/// </summary>
public sealed class ViewTorchTests
{
    private string _dir = null!;

    [SetUp]
    public void SetUp() => _dir = TestPaths.NewTempDir();

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    private sealed record Case(string Name, IReadOnlyList<OutputSegment> Records, string Torch);

    [TestCase(1, 1, IoMode.Direct), TestCase(3, 2, IoMode.Direct), TestCase(1, 3, IoMode.Direct), TestCase(3, 4, IoMode.Aggregate), TestCase(2, 5, IoMode.Aggregate)]
    public void View_records_hold_the_bytes_torch_computes(int ranks, int seed, IoMode io)
    {
        var rng = new Random(seed);
        int heads = 2 * rng.Next(1, 4), kv = heads / 2, hd = 16 * rng.Next(1, 3), dim = 64 * rng.Next(3, 6);
        int rows = heads * hd;
        var tensors = new Dictionary<string, (DType DType, long[] Shape)>
        {
            ["q"] = (DType.BF16, [rows, dim]),
            ["k"] = (DType.BF16, [kv * hd, dim]),
            ["w32"] = (DType.F32, [rows, dim]),
            ["small"] = (DType.BF16, [hd, dim]),
            ["s32"] = (DType.F32, [8, dim]),
            ["sb"] = (DType.BF16, [8, dim]),
        };
        SourceCatalog catalog = WriteSources(rng, tensors);
        float factor = (float)(1 / Math.Sqrt(hd) * (1 + rng.NextDouble()));
        string f = factor.ToString("R", CultureInfo.InvariantCulture);
        int r0 = rng.Next(1, rows - 1), c0 = rng.Next(1, dim - 1);

        var cases = new List<Case>
        {
            One("copy_hf_like", new TensorSegment(0, "q", 0, rows * dim, DType.BF16), "T['q']"),
            One("slice_dim0", View([rows - r0, dim], DType.BF16, Part("q", [rows, dim], new Box([r0, 0], [rows - r0, dim]), [0, 1])), $"T['q'][{r0}:]"),
            One("slice_dim1", View([rows, dim - c0], DType.BF16, Part("q", [rows, dim], new Box([0, c0], [rows, dim - c0]), [0, 1])), $"T['q'][:, {c0}:]"),
            One("transpose", View([dim, rows], DType.BF16, Part("q", [rows, dim], Box.Full([rows, dim]), [1, 0])), "T['q'].t()"),
            One("rotary_interleave_to_halves", View([heads, 2, hd / 2, dim], DType.BF16, Part("q", [heads, hd / 2, 2, dim], null, [0, 2, 1, 3])),
                $"T['q'].view({heads}, {hd / 2}, 2, {dim}).transpose(1, 2).reshape({rows}, {dim})"),
            One("rotary_halves_to_interleave", View([heads, hd / 2, 2, dim], DType.BF16, Part("q", [heads, 2, hd / 2, dim], null, [0, 2, 1, 3])),
                $"T['q'].view({heads}, 2, {hd / 2}, {dim}).transpose(1, 2).reshape({rows}, {dim})"),
            One("kv_replication", View([kv, 2, hd, dim], DType.BF16, new ViewPart("k", [kv, 1, hd, dim], Box.Full([kv, 1, hd, dim]), [0, 1, 2, 3], Box.Full([kv, 2, hd, dim]))),
                $"T['k'].view({kv}, {hd}, {dim}).repeat_interleave(2, dim=0).reshape(-1, {dim})"),
            One("maxtext_transpose", View([dim, heads, hd], DType.BF16, Part("q", [heads, hd, dim], null, [2, 0, 1])),
                $"T['q'].view({heads}, {hd}, {dim}).permute(2, 0, 1)"),
            One("cast_f32_to_bf16_transposed", View([dim, rows], DType.BF16, Part("w32", [rows, dim], null, [1, 0])), "T['w32'].t().to(torch.bfloat16)"),
            One("scale_bf16", View([rows, dim], DType.BF16, Part("q", [rows, dim], null, [0, 1]), TensorOp.Scale(factor)),
                $"(T['q'].float() * torch.tensor({f}, dtype=torch.float32)).to(torch.bfloat16)"),
            One("fused_qkv", View([rows + kv * hd, dim], DType.F32,
                    new ViewPart("q", [rows, dim], Box.Full([rows, dim]), [0, 1], new Box([0, 0], [rows, dim])),
                    new ViewPart("k", [kv * hd, dim], Box.Full([kv * hd, dim]), [0, 1], new Box([rows, 0], [kv * hd, dim]))),
                "torch.cat([T['q'], T['k']], 0).float()"),
            // MaxText stacks layers on axis 1: each layer is a [1, hd, dim] view of its tensor (a size-1 axis inserted), transposed.
            One("layers_stacked_on_axis_1", View([dim, 2, hd], DType.BF16,
                    new ViewPart("small", [1, hd, dim], Box.Full([1, hd, dim]), [2, 0, 1], new Box([0, 0, 0], [dim, 1, hd])),
                    new ViewPart("q", [heads, hd, dim], new Box([1, 0, 0], [1, hd, dim]), [2, 0, 1], new Box([0, 1, 0], [dim, 1, hd]))),
                $"torch.stack([T['small'].t(), T['q'][{hd}:{2 * hd}].t()], 1)"),
        };
        var reduced = new[] { 1 };
        cases.Add(new Case("int8_absmax_per_row",
            [View([8, dim], DType.I8, Part("sb", [8, dim], null, [0, 1]), TensorOp.QuantizeValues(reduced, DType.BF16)),
             View([8, dim], DType.BF16, Part("sb", [8, dim], null, [0, 1]), TensorOp.QuantizeScales(reduced, DType.BF16))],
            "quant(T['sb'].float(), [1])"));
        cases.Add(new Case("int8_absmax_per_column_of_transpose",
            [View([dim, 8], DType.I8, Part("s32", [8, dim], null, [1, 0]), TensorOp.QuantizeValues([0], DType.F32)),
             View([dim, 8], DType.F32, Part("s32", [8, dim], null, [1, 0]), TensorOp.QuantizeScales([0], DType.F32))],
            "quant(T['s32'].t().contiguous(), [0], torch.float32)"));

        RunAndCompare(cases, tensors, catalog, ranks, io, seed, plan =>
            Assert.That(plan.Ranks.SelectMany(r => r.Items).Sum(i => i.Chunks.Count), Is.GreaterThan(cases.Count), "records are cut into several chunks"));
    }

    /// <summary>
    /// Transposes of tensors several times the buffer: a slab of the output is a column band of the source, staged through
    /// strided reads at its own size (the bounding byte range would be the whole tensor), so they plan and run in 64 KiB.
    /// </summary>
    [TestCase(1, 11, IoMode.Direct), TestCase(3, 12, IoMode.Direct), TestCase(2, 13, IoMode.Aggregate)]
    public void Transposes_of_tensors_bigger_than_the_buffer_stream_in_column_bands(int ranks, int seed, IoMode io)
    {
        var rng = new Random(seed);
        int heads = 8, hd = 128, dim = 64 * rng.Next(10, 14);
        var tensors = new Dictionary<string, (DType DType, long[] Shape)>
        {
            ["big"] = (DType.BF16, [heads * hd, dim]),
            ["w32"] = (DType.F32, [512, dim]), // stored transposed: its transpose is a row band of the file
        };
        SourceCatalog catalog = WriteSources(rng, tensors);
        var cases = new List<Case>
        {
            One("transpose", View([dim, heads * hd], DType.BF16, Part("big", [heads * hd, dim], null, [1, 0])), "T['big'].t()"),
            One("maxtext_transpose", View([dim, heads, hd], DType.BF16, Part("big", [heads, hd, dim], null, [2, 0, 1])),
                $"T['big'].view({heads}, {hd}, {dim}).permute(2, 0, 1)"),
            One("cast_f32_to_bf16_transposed", View([dim, 512], DType.BF16, Part("w32", [512, dim], null, [1, 0])), "T['w32'].t().to(torch.bfloat16)"),
        };
        RunAndCompare(cases, tensors, catalog, ranks, io, seed, plan =>
        {
            Chunk[] chunks = plan.Ranks.SelectMany(r => r.Items).SelectMany(i => i.Chunks).ToArray();
            Assert.That(chunks.Max(c => c.BufferBytes), Is.LessThanOrEqualTo(BufferBudget.Minimum));
            Assert.That(chunks.SelectMany(c => c.Reads).Count(r => r.IsStrided), Is.GreaterThan(0), "column bands are read as strided reads");
            Assert.That(chunks.Sum(c => c.BytesRead), Is.LessThanOrEqualTo(2 * (heads * hd * dim * 2 * 2 + 512 * dim * 4)), "each source byte read about once per record");
        });
    }

    private void RunAndCompare(List<Case> cases, Dictionary<string, (DType DType, long[] Shape)> tensors, SourceCatalog catalog, int ranks, IoMode io, int seed, Action<Plan> checkPlan)
    {
        OutputLayout layout = Layout(cases);
        string output = Path.Combine(_dir, "out");
        ThreadCommunicator.Run(ranks, comm =>
        {
            Plan plan = Planner.Build(layout, catalog, new PlanOptions(comm.Size, BufferBudget.Minimum, RequireAllSourceTensorsConsumed: false));
            if (comm.Rank == 0) checkPlan(plan);
            Executor.Run(comm, plan, catalog.Root, output, new ExecutionOptions(Io: io));
        }, TimeSpan.FromSeconds(120));

        string expected = Path.Combine(_dir, "expected");
        Directory.CreateDirectory(expected);
        File.WriteAllText(Path.Combine(_dir, "cases.json"), JsonSerializer.Serialize(cases.Select(c => new { c.Name, c.Torch }).ToArray()));
        File.WriteAllText(Path.Combine(_dir, "tensors.json"), JsonSerializer.Serialize(tensors.ToDictionary(t => t.Key, t => new { dtype = t.Value.DType.TorchName(), shape = t.Value.Shape })));
        TestPaths.RunPython(Script, _dir);
        foreach (Case c in cases)
        {
            byte[] actual = File.ReadAllBytes(Path.Combine(output, c.Name + ".bin"));
            byte[] want = File.ReadAllBytes(Path.Combine(expected, c.Name + ".bin"));
            Assert.That(actual.Length, Is.EqualTo(want.Length), c.Name);
            int at = Enumerable.Range(0, actual.Length).FirstOrDefault(i => actual[i] != want[i], -1);
            Assert.That(at, Is.EqualTo(-1), $"{c.Name}: first difference at byte {at} (seed {seed})");
        }
    }

    private static Case One(string name, OutputSegment record, string torch) => new(name, [record], torch);

    private static ViewSegment View(long[] shape, DType dtype, ViewPart part, TensorOp? op = null) => new(0, shape, dtype, op ?? TensorOp.Copy, [part]);

    private static ViewSegment View(long[] shape, DType dtype, params ViewPart[] parts) => new(0, shape, dtype, TensorOp.Copy, parts);

    /// <summary>A part that fills the whole record from <paramref name="box"/> (null: the whole tensor) of <paramref name="split"/>.</summary>
    private static ViewPart Part(string tensor, long[] split, Box? box, int[] permutation)
    {
        box ??= Box.Full(split);
        return new ViewPart(tensor, split, box, permutation, Box.Full(permutation.Select(a => box.Length[a]).ToArray()));
    }

    private static OutputLayout Layout(List<Case> cases) => new(cases.Select(c =>
    {
        var segments = new List<OutputSegment>();
        long at = 0;
        foreach (OutputSegment s in c.Records)
        {
            OutputSegment placed = s switch
            {
                ViewSegment v => v with { Offset = at },
                TensorSegment t => t with { Offset = at },
                _ => s,
            };
            segments.Add(placed);
            at = placed.End;
        }
        return new OutputFile(c.Name + ".bin", at, segments, []);
    }).ToList());

    /// <summary>
    /// Random tensors, each cut along dim 1 into 1-3 shard files at random columns; "w32", "s32" and "k" shards are stored
    /// transposed (column-major box), the others row-major. Also the whole tensors for torch.
    /// </summary>
    internal SourceCatalog WriteSources(Random rng, Dictionary<string, (DType DType, long[] Shape)> tensors)
    {
        Directory.CreateDirectory(Path.Combine(_dir, "canon"));
        var list = new List<SourceTensor>();
        foreach (var (name, (dtype, shape)) in tensors)
        {
            long rows = shape[0], cols = shape[1];
            byte[] all = RandomValues(rng, rows * cols, dtype);
            File.WriteAllBytes(Path.Combine(_dir, "canon", name + ".bin"), all);
            int size = dtype.SizeInBytes();
            var cuts = Enumerable.Range(0, rng.Next(0, 3)).Select(_ => (long)rng.Next(1, (int)cols)).Append(0).Append(cols).Distinct().Order().ToArray();
            bool transposed = name is "w32" or "k" or "s32";
            var pieces = new List<SourcePiece>();
            for (int s = 0; s + 1 < cuts.Length; s++)
            {
                long c0 = cuts[s], width = cuts[s + 1] - cuts[s];
                var shard = new MemoryStream();
                shard.Write(new byte[16]); // a header the piece's byte offset skips
                long outer = transposed ? width : rows, inner = transposed ? rows : width;
                for (long i = 0; i < outer; i++)
                for (long j = 0; j < inner; j++)
                {
                    long r = transposed ? j : i, c = c0 + (transposed ? i : j);
                    shard.Write(all, (int)((r * cols + c) * size), size);
                }
                string file = $"{name}.shard{s}.bin";
                File.WriteAllBytes(Path.Combine(_dir, file), shard.ToArray());
                pieces.Add(new SourcePiece(file, 16, dtype, new Box([0, c0], [rows, width]), [rows, cols], transposed ? [1, 0] : null));
            }
            list.Add(new SourceTensor(name, dtype, shape, pieces));
        }
        return new SourceCatalog(_dir, list);
    }

    private static byte[] RandomValues(Random rng, long count, DType dtype)
    {
        var floats = new float[count];
        for (long i = 0; i < count; i++) floats[i] = (float)((rng.NextDouble() * 2 - 1) * Math.Pow(2, rng.Next(-6, 4)));
        byte[] bytes = new byte[count * dtype.SizeInBytes()];
        Cast.Convert(MemoryMarshal.AsBytes(floats.AsSpan()), DType.F32, bytes, dtype);
        return bytes;
    }

    private const string Script = """
        import json, os, sys
        import numpy as np
        import torch
        d = sys.argv[1]
        meta = json.load(open(os.path.join(d, 'tensors.json')))
        T = {}
        for name, m in meta.items():
            raw = np.fromfile(os.path.join(d, 'canon', name + '.bin'), dtype=np.int16 if m['dtype'] == 'bfloat16' else np.float32)
            t = torch.from_numpy(raw)
            if m['dtype'] == 'bfloat16':
                t = t.view(torch.bfloat16)
            T[name] = t.reshape(m['shape'])
        def quant(x, dims, scale_dtype=torch.bfloat16):
            # fp32 absmax per channel; the scale rounded to its dtype; q = round_half_even(x / stored scale), clamped.
            absmax = x.abs().amax(dim=dims, keepdim=True)
            scale = (absmax / 127.5).to(scale_dtype)
            q = torch.round(x / scale.float()).clamp(-127, 127).to(torch.int8)
            return [q, scale]
        def raw(t):
            t = t.contiguous().reshape(-1)
            if t.dtype == torch.bfloat16:
                t = t.view(torch.int16)
            return t.numpy().tobytes()
        for case in json.load(open(os.path.join(d, 'cases.json'))):
            r = eval(case['Torch'])
            parts = r if isinstance(r, list) else [r]
            with open(os.path.join(d, 'expected', case['Name'] + '.bin'), 'wb') as f:
                for p in parts:
                    f.write(raw(p))
        """;
}
