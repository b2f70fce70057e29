using Ckptmpi.Tests.Formats.DeepSpeed;

namespace Ckptmpi.Tests.Peers;

/// <summary>
/// The tiny fixture model converted HF -> ZeRO by the real ckptmpi program, then handed to DeepSpeed 0.14.4 itself:
/// its engine must load every partition (weights, fp32 masters) and train a step, and its own <c>zero_to_fp32</c> must
/// rebuild the original weights exactly. Skipped when the DeepSpeed peer is absent.
/// </summary>
public sealed class DeepSpeedPeerTests
{
    // The step-0 reference: the model's initial weights, which the fp32 masters of a fresh checkpoint must equal.
    private static string InitialWeights => Path.Combine(DeepSpeedFixtures.Root, "refs", "init_fp32.pt");

    private static IEnumerable<TestCaseData> Cases()
    {
        // stage, dtype, HF input, the DeepSpeed config of a fixture with the same stage and dtype
        yield return new TestCaseData(1, "bf16", "tiny-pad-bf16", "z1_w2_bf16_step0").SetName("{m}(ZeRO-1 dp2 bf16)");
        yield return new TestCaseData(2, "bf16", "tiny-pad-bf16", "z2_w2_bf16_step0").SetName("{m}(ZeRO-2 dp2 bf16)");
        yield return new TestCaseData(3, "bf16", "tiny-pad-bf16", "z3_w2_bf16_step0").SetName("{m}(ZeRO-3 dp2 bf16)");
        yield return new TestCaseData(3, "fp32", "tiny-pad-fp32-sharded", "z3_w2_fp32").SetName("{m}(ZeRO-3 dp2 fp32)");
    }

    [TestCaseSource(nameof(Cases))]
    public void DeepSpeed_engine_loads_our_checkpoint_exactly_and_trains_a_step(int stage, string dtype, string hf, string dsFixture)
    {
        DeepSpeedPeer.RequirePresent();
        string dir = TestPaths.NewTempDir();
        string output = Convert(dir, stage, dtype, hf, dsFixture);
        ProcessResult r = DeepSpeedPeer.CheckLoad(output, stage, 2, dtype, InitialWeights,
            Path.Combine(TestPaths.Fixtures, "hf", hf, "config.json"), DsConfig(dsFixture));
        Assert.That(r.ExitCode, Is.EqualTo(0), r.ToString());
        Assert.That(r.Stdout, Does.Contain("check_load: PASS").And.Contain("fp32 master weights: 21 tensors match"), r.ToString());
        Directory.Delete(dir, true);
    }

    [TestCaseSource(nameof(Cases))]
    public void DeepSpeed_zero_to_fp32_rebuilds_the_original_weights_from_our_checkpoint(int stage, string dtype, string hf, string dsFixture)
    {
        DeepSpeedPeer.RequirePresent();
        string dir = TestPaths.NewTempDir();
        string output = Convert(dir, stage, dtype, hf, dsFixture);
        ProcessResult r = DeepSpeedPeer.CheckFp32(output, InitialWeights);
        Assert.That(r.ExitCode, Is.EqualTo(0), r.ToString());
        Assert.That(r.Stdout, Does.Contain("21 fp32 tensors equal the reference").And.Contain("check_fp32: PASS"), r.ToString());
        Directory.Delete(dir, true);
    }

    [Test]
    public void The_zero_to_fp32_check_fails_against_other_weights()
    {
        // The checker must be able to say no: our step-0 output against the weights after one training step.
        DeepSpeedPeer.RequirePresent();
        string dir = TestPaths.NewTempDir();
        string output = Convert(dir, 3, "bf16", "tiny-pad-bf16", "z3_w2_bf16_step0");
        DeepSpeedFixtures.Fixture trained = DeepSpeedFixtures.All.Single(f => f.Name == "z3_w2_bf16");
        ProcessResult r = DeepSpeedPeer.CheckFp32(output, trained.ReferencePath);
        Assert.That(r.ExitCode, Is.Not.EqualTo(0), r.ToString());
        Assert.That(r.Stdout, Does.Contain("check_fp32: FAIL").And.Contain("elements differ"), r.ToString());
        Directory.Delete(dir, true);
    }

    private static string DsConfig(string fixture) => Path.Combine(DeepSpeedFixtures.Root, fixture, "ds_config.json");

    private static string Convert(string dir, int stage, string dtype, string hf, string dsFixture)
    {
        string output = Path.Combine(dir, $"z{stage}-{dtype}");
        ProcessResult r = TestPaths.RunCkptmpi(["convert", "--from", "hf", "--to", "zero",
            "--input", Path.Combine(TestPaths.Fixtures, "hf", hf), "--output", output,
            "--zero-stage", $"{stage}", "--dp-size", "2", "--dtype", dtype, "--ds-config", DsConfig(dsFixture)]);
        Assert.That(r.ExitCode, Is.EqualTo(0), r.ToString());
        return output;
    }
}
