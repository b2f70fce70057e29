using System.Runtime.InteropServices;
using Ckptmpi.Cli;
using Ckptmpi.Formats.DeepSpeed;
using Ckptmpi.Formats.Torch;
using Ckptmpi.Tensors.Layout;
using Ckptmpi.Tests.Peers;

namespace Ckptmpi.Tests.Formats.DeepSpeed;

/// <summary>
/// <c>--from zero --to zero</c> of a trained checkpoint (DeepSpeed's own step-1 fixtures) to another data-parallel size
/// or stage keeps the training state: fp32 masters, both Adam moments, the step, the engine counters and the tag.
/// Proven three ways: our reader finds every value of the source in the output; the output has the object graph
/// DeepSpeed itself writes at that stage and size (its step-1 fixture); and, with the peer, DeepSpeed's engine loads it
/// on the new world size with masters and moments equal to the source run's, and trains on.
/// </summary>
public sealed class ZeroReshardTests
{
    private static readonly string Config = Path.Combine(DeepSpeedFixtures.Root, "config.json");

    private static DeepSpeedFixtures.Fixture Fixture(string name) => DeepSpeedFixtures.All.Single(f => f.Name == name);

    /// <summary>Reshards <paramref name="source"/> to <paramref name="stage"/>/<paramref name="dp"/> with the training job's config of the <paramref name="like"/> fixture.</summary>
    private static string Reshard(string source, int stage, int dp, string like)
    {
        string output = Path.Combine(TestPaths.NewTempDir(), "out");
        ProcessResult r = TestPaths.RunCkptmpi(["convert", "--from", "zero", "--to", "zero", "--input", Fixture(source).Dir, "--output", output,
            "--zero-stage", $"{stage}", "--dp-size", $"{dp}", "--ds-config", Path.Combine(Fixture(like).Dir, "ds_config.json"), "--config", Config], timeoutSeconds: 180);
        Assert.That(r.ExitCode, Is.EqualTo(0), r.ToString());
        Assert.That(r.Stderr, Does.Not.Contain("not carried"), "a reshard carries the state");
        return output;
    }

    [TestCase("z1_w2_bf16", 1, 4, "z1_w4_bf16")]
    [TestCase("z3_w4_bf16", 1, 2, "z1_w2_bf16")]
    [TestCase("z2_w2_bf16", 3, 4, "z3_w4_bf16")]
    [TestCase("z3_w2_fp32", 3, 1, "z3_w1_fp32")]
    [TestCase("z1_w4_fp32", 2, 2, "z2_w2_fp32")]
    public void A_reshard_keeps_every_master_moment_and_step_and_has_DeepSpeeds_own_graph(string source, int stage, int dp, string like)
    {
        string output = Reshard(source, stage, dp, like);
        DeepSpeedFixtures.Fixture f = Fixture(source);
        ZeroSource ours = ZeroCheckpoint.Read(output, withOptimizerStates: true), theirs = ZeroCheckpoint.Read(f.Dir, withOptimizerStates: true);
        Assert.That((ours.Info.Stage, ours.Info.DpSize, ours.Info.Tag), Is.EqualTo((stage, dp, f.Tag)));
        Assert.That(ours.Info.Counters, Is.EquivalentTo(theirs.Info.Counters));
        Assert.That(ours.Info.Counters["global_steps"], Is.EqualTo(f.Steps));
        Assert.That(ours.Catalog.Tensors.Select(t => t.Name), Is.EquivalentTo(theirs.Catalog.Tensors.Select(t => t.Name)));
        Assert.That(ours.Catalog.Tensors, Has.Some.Matches<SourceTensor>(t => t.Name.EndsWith(ZeroCheckpoint.ExpAvgSqSuffix)));
        foreach (SourceTensor t in theirs.Catalog.Tensors)
        {
            byte[] expected = MemoryMarshal.AsBytes(ZeroTestSupport.ReadF32(theirs.Catalog, t).AsSpan()).ToArray();
            byte[] actual = MemoryMarshal.AsBytes(ZeroTestSupport.ReadF32(ours.Catalog, ours.Catalog[t.Name]).AsSpan()).ToArray();
            Assert.That(actual, Is.EqualTo(expected), t.Name);
        }

        // DeepSpeed's own run at the target stage and size, one step in: the same object graph, key for key (tensor values
        // differ: that run's moments come from its own reduction order).
        DeepSpeedFixtures.Fixture model = Fixture(like);
        string[] files = Directory.GetFiles(Path.Combine(output, f.Tag)).Select(Path.GetFileName).OfType<string>().Order().ToArray();
        Assert.That(files, Is.EqualTo(Directory.GetFiles(Path.Combine(model.Dir, model.Tag)).Select(Path.GetFileName).OfType<string>().Order().ToArray()));
        foreach (string file in files)
        {
            var cmp = new PyGraphComparer(TorchArchive.Open(Path.Combine(output, f.Tag, file)), TorchArchive.Open(Path.Combine(model.Dir, model.Tag, file))) { CompareBytes = false };
            cmp.Compare();
            // global_samples counts the samples the source run saw (its dp size times its batches), not the target's.
            Assert.That(cmp.Differences.Where(d => !d.Contains("'global_samples'")), Is.Empty, file);
        }
    }

    [Test]
    public void A_step0_source_gives_a_step0_target_and_says_there_was_no_state_to_carry()
    {
        string output = Path.Combine(TestPaths.NewTempDir(), "out");
        ProcessResult r = TestPaths.RunCkptmpi(["convert", "--from", "zero", "--to", "zero", "--input", Fixture("z1_w2_bf16_step0").Dir, "--output", output,
            "--zero-stage", "3", "--dp-size", "4", "--ds-config", Path.Combine(Fixture("z3_w4_bf16").Dir, "ds_config.json"), "--config", Config], timeoutSeconds: 180);
        Assert.That(r.ExitCode, Is.EqualTo(0), r.ToString());
        Assert.That(r.Stderr, Does.Contain("the source holds no Adam state yet"));
        Assert.That(ZeroCheckpoint.Read(output).Info.Tag, Is.EqualTo("global_step0"));
    }

    [Test]
    public void A_target_optimizer_that_keeps_the_step_in_another_form_is_refused_before_anything_is_written()
    {
        string dir = TestPaths.NewTempDir();
        string ds = Path.Combine(dir, "ds_config.json");
        // DeepSpeed's FusedAdam (no torch_adam) keeps the step as a number; the fixtures trained with torch's AdamW (a tensor).
        File.WriteAllText(ds, File.ReadAllText(Path.Combine(Fixture("z1_w4_bf16").Dir, "ds_config.json")).Replace("\"torch_adam\": true", "\"torch_adam\": false"));
        string output = Path.Combine(dir, "out");
        ProcessResult r = TestPaths.RunCkptmpi(["convert", "--from", "zero", "--to", "zero", "--input", Fixture("z1_w2_bf16").Dir, "--output", output,
            "--dp-size", "4", "--ds-config", ds, "--config", Config], timeoutSeconds: 180);
        Assert.That(r.ExitCode, Is.EqualTo(ExitCodes.Usage), r.ToString());
        Assert.That(r.Stderr, Does.Contain("torch_adam"));
        Assert.That(Directory.Exists(output) && Directory.EnumerateFileSystemEntries(output).Any(), Is.False);
    }

    /// <summary>The real consumer: DeepSpeed's engine on the new world size loads masters, moments and step equal to the source run's, then trains a step.</summary>
    [TestCase("z1_w2_bf16", 1, 4, "z1_w4_bf16")]
    [TestCase("z3_w4_bf16", 1, 2, "z1_w2_bf16")]
    [TestCase("z2_w2_bf16", 3, 4, "z3_w4_bf16")]
    [TestCase("z3_w2_fp32", 3, 1, "z3_w1_fp32")]
    public void DeepSpeed_resumes_our_reshard_with_the_source_runs_state(string source, int stage, int dp, string like)
    {
        DeepSpeedPeer.RequirePresent();
        string output = Reshard(source, stage, dp, like);
        DeepSpeedFixtures.Fixture f = Fixture(source);
        ProcessResult r = DeepSpeedPeer.CheckLoad(output, stage, dp, f.DType, f.ReferencePath, Config, Path.Combine(Fixture(like).Dir, "ds_config.json"));
        Assert.That(r.ExitCode, Is.EqualTo(0), r.ToString());
        Assert.That(r.Stdout + r.Stderr, Does.Contain("optimizer exp_avg_sq: 21 tensors match").And.Contain("global_steps=1"));
    }
}
