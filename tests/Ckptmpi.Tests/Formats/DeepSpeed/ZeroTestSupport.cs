using System.Runtime.InteropServices;
using Ckptmpi.Conversion.Execution;
using Ckptmpi.Conversion.Planning;
using Ckptmpi.Parallel;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Kernels;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Tests.Formats.DeepSpeed;

/// <summary>Reads catalog tensors through FileByteSource, runs a layout through the engine, and fetches reference values from python.</summary>
public static class ZeroTestSupport
{
    /// <summary>All elements of a catalog tensor as float32, read piece by piece from the source files (proves the pieces cover it once).</summary>
    public static float[] ReadF32(SourceCatalog catalog, SourceTensor t)
    {
        var values = new float[t.ElementCount];
        var covered = new bool[t.ElementCount];
        foreach (SourcePiece p in t.Pieces)
        {
            var raw = new byte[p.Bytes.Length];
            using (var src = new FileByteSource(Path.Combine(catalog.Root, p.File))) src.ReadExactly(p.ByteOffset, raw);
            Span<byte> dst = MemoryMarshal.AsBytes(values.AsSpan(checked((int)p.FirstElement), checked((int)p.ElementCount)));
            Cast.Convert(raw, p.StoredDType, dst, DType.F32);
            for (long i = p.FirstElement; i < p.FirstElement + p.ElementCount; i++)
            {
                if (covered[i]) throw new AssertionException($"{t.Name}: element {i} covered twice");
                covered[i] = true;
            }
        }
        int missing = Array.IndexOf(covered, false);
        if (missing >= 0) throw new AssertionException($"{t.Name}: element {missing} not covered by any piece");
        return values;
    }

    /// <summary>Rounds float32 values through a 16-bit dtype (round to nearest even) and back.</summary>
    public static float[] RoundThrough(float[] values, DType dtype)
    {
        if (dtype == DType.F32) return values;
        var half = new byte[values.Length * dtype.SizeInBytes()];
        Cast.Convert(MemoryMarshal.AsBytes(values.AsSpan()), DType.F32, half, dtype);
        var back = new float[values.Length];
        Cast.Convert(half, dtype, MemoryMarshal.AsBytes(back.AsSpan()), DType.F32);
        return back;
    }

    /// <summary>Executes a layout with the engine (one rank, direct I/O) reading from <paramref name="source"/>.</summary>
    public static void Execute(OutputLayout layout, SourceCatalog source, string outDir)
    {
        Plan plan = Planner.Build(layout, source, new PlanOptions(1, 4L << 20, RequireAllSourceTensorsConsumed: false));
        using var comm = new SelfCommunicator();
        Executor.Run(comm, plan, source.Root, outDir, new ExecutionOptions());
    }

    private static readonly Lazy<string> RefDir = new(DumpReferences);

    /// <summary>
    /// Reference values of refs/*.pt as raw little-endian float32 files: {refDir}/{ref file}/{kind}/{name}.bin with kind
    /// fp32, exp_avg, exp_avg_sq (init_fp32.pt: fp32 only) and {ref}/step.txt.
    /// </summary>
    public static byte[]? Reference(string referenceFile, string kind, string name)
    {
        string p = Path.Combine(RefDir.Value, Path.GetFileName(referenceFile), kind, name + ".bin");
        return File.Exists(p) ? File.ReadAllBytes(p) : null;
    }

    public static string? ReferenceStep(string referenceFile)
    {
        string p = Path.Combine(RefDir.Value, Path.GetFileName(referenceFile), "step.txt");
        return File.Exists(p) ? File.ReadAllText(p) : null;
    }

    private static string DumpReferences()
    {
        string dir = Path.Combine(Path.GetTempPath(), "ckptmpi-ds-refs-" + Guid.NewGuid().ToString("N")[..8]);
        const string script = """
            import os, sys, glob
            out = sys.argv[2]
            for f in sorted(glob.glob(os.path.join(sys.argv[1], 'refs', '*.pt'))):
                ref = torch.load(f, map_location='cpu')
                kinds = {k: ref[k] for k in ('fp32', 'exp_avg', 'exp_avg_sq') if k in ref} if 'fp32' in ref else {'fp32': ref}
                for kind, d in kinds.items():
                    os.makedirs(os.path.join(out, os.path.basename(f), kind), exist_ok=True)
                    for name, t in d.items():
                        with open(os.path.join(out, os.path.basename(f), kind, name + '.bin'), 'wb') as w:
                            w.write(t.detach().float().contiguous().numpy().tobytes())
                if 'step' in ref:
                    with open(os.path.join(out, os.path.basename(f), 'step.txt'), 'w') as w:
                        w.write(str(int(ref['step'])))
            print('{}')
            """;
        DeepSpeedFixtures.PythonJson(script, DeepSpeedFixtures.Root, dir);
        return dir;
    }
}
