using Ckptmpi.Formats.DeepSpeed;
using Ckptmpi.Formats.Safetensors;
using Ckptmpi.Tests.Formats.MegaDs;
using Ckptmpi.Tests.Peers;

namespace Ckptmpi.Tests.Formats.DeepSpeed;

/// <summary>
/// A trained checkpoint of another trainer into a ZeRO checkpoint at any stage and data-parallel size: DeepSpeed's
/// universal checkpoint (ds_to_universal's real output) and the real Megatron-DeepSpeed run it came from. The masters,
/// both Adam moments and the step carry over, so X -> zero -> hf equals X -> hf tensor for tensor, and DeepSpeed's
/// engine resumes from it.
/// </summary>
public sealed class TrainedToZeroTests
{
    private static string RealUniversal => Path.Combine(MegaDsFixtures.Repo, "tp2_pp2_dp2", "step1_universal");

    private static string Input(string format) => format == "universal" ? RealUniversal : Path.Combine(MegaDsFixtures.Repo, "tp2_pp2_dp2", "step1");

    private static string DsConfig(string fixture) => Path.Combine(TestPaths.Fixtures, "deepspeed", fixture, "ds_config.json");

    private static string Run(params string[] args)
    {
        string output = Path.Combine(TestPaths.NewTempDir(), "out");
        ProcessResult r = TestPaths.RunCkptmpi(["convert", .. args, "--output", output], timeoutSeconds: 180);
        Assert.That(r.ExitCode, Is.EqualTo(0), r.ToString());
        return output;
    }

    /// <summary>Every tensor of every safetensors file under <paramref name="hfDir"/>: "file:name" -> dtype, shape and bytes.</summary>
    private static Dictionary<string, string> Tensors(string hfDir)
    {
        var all = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string file in Directory.GetFiles(hfDir, "*.safetensors", SearchOption.AllDirectories))
        {
            SafetensorsHeader h = SafetensorsHeader.Read(file);
            using var stream = File.OpenRead(file);
            foreach (SafetensorsTensorInfo t in h.Tensors)
            {
                byte[] bytes = new byte[t.ByteLength];
                stream.Position = t.FileRange.Start;
                stream.ReadExactly(bytes);
                all[Path.GetRelativePath(hfDir, file) + ":" + t.Name] = $"{t.DType} [{string.Join(", ", t.Shape)}] {Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(bytes))}";
            }
        }
        return all;
    }

    [TestCase("universal", 1, 2, "z1_w2_bf16")]
    [TestCase("universal", 3, 4, "z3_w4_bf16")]
    [TestCase("megads", 2, 4, "z2_w4_bf16")]
    public void A_trained_checkpoint_into_zero_keeps_masters_moments_and_step(string from, int stage, int dp, string like)
    {
        string zero = Run("--from", from, "--to", "zero", "--input", Input(from), "--zero-stage", $"{stage}", "--dp-size", $"{dp}", "--ds-config", DsConfig(like));
        ZeroSource z = ZeroCheckpoint.Read(zero, withOptimizerStates: true);
        Assert.That((z.Info.Stage, z.Info.DpSize, z.Info.Tag, z.Info.Counters["global_steps"]), Is.EqualTo((stage, dp, "global_step1", 1L)));

        string direct = Run("--from", from, "--to", "hf", "--with-optimizer-states", "--dtype", "fp32", "--input", Input(from));
        string through = Run("--from", "zero", "--to", "hf", "--with-optimizer-states", "--dtype", "fp32", "--input", zero);
        Dictionary<string, string> a = Tensors(direct), b = Tensors(through);
        Assert.That(b.Keys, Is.EquivalentTo(a.Keys));
        Assert.That(a.Keys, Has.Some.EndsWith(ZeroCheckpoint.ExpAvgSqSuffix).And.Some.EndsWith(ZeroCheckpoint.StepSuffix));
        foreach ((string name, string what) in a) Assert.That(b[name], Is.EqualTo(what), name);
    }

    /// <summary>The real consumer: DeepSpeed's engine loads the ZeRO checkpoint with the universal's masters, moments and step, and trains a step.</summary>
    [Test]
    public void DeepSpeed_resumes_from_a_universal_checkpoint_we_turned_into_ZeRO()
    {
        DeepSpeedPeer.RequirePresent();
        string zero = Run("--from", "universal", "--to", "zero", "--input", RealUniversal, "--zero-stage", "1", "--dp-size", "2", "--ds-config", DsConfig("z1_w2_bf16"));
        string hf = Run("--from", "universal", "--to", "hf", "--with-optimizer-states", "--dtype", "fp32", "--input", RealUniversal);
        string reference = Path.Combine(TestPaths.NewTempDir(), "ref.pt");
        // check_load's reference: {fp32, exp_avg, exp_avg_sq: {name: tensor}, step}, from the universal's own values.
        TestPaths.RunPython("""
            import sys, json, struct, torch
            def load(f):
                b = open(f, 'rb').read(); n = struct.unpack('<Q', b[:8])[0]; h = json.loads(b[8:8 + n]); out = {}
                for k, v in h.items():
                    if k == '__metadata__': continue
                    s, e = v['data_offsets']
                    out[k] = torch.frombuffer(bytearray(b[8 + n + s:8 + n + e]), dtype=torch.float32).reshape(v['shape']).clone()
                return out
            w = load(sys.argv[1] + '/model.safetensors'); st = load(sys.argv[1] + '/optimizer_states/model.safetensors')
            ref = {'fp32': w,
                   'exp_avg': {k[:-len('.exp_avg')]: v for k, v in st.items() if k.endswith('.exp_avg')},
                   'exp_avg_sq': {k[:-len('.exp_avg_sq')]: v for k, v in st.items() if k.endswith('.exp_avg_sq')},
                   'step': float(next(v for k, v in st.items() if k.endswith('.step')))}
            torch.save(ref, sys.argv[2])
            """, hf, reference);
        ProcessResult r = DeepSpeedPeer.CheckLoad(zero, 1, 2, "bf16", reference, Path.Combine(hf, "config.json"), DsConfig("z1_w2_bf16"));
        Assert.That(r.ExitCode, Is.EqualTo(0), r.ToString());
        Assert.That(r.Stdout + r.Stderr, Does.Contain("optimizer exp_avg_sq: 21 tensors match").And.Contain("global_steps=1"));
    }
}
