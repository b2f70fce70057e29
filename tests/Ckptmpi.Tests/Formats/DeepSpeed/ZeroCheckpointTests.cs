using System.Runtime.InteropServices;
using Ckptmpi.Errors;
using Ckptmpi.Formats.DeepSpeed;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Tests.Formats.DeepSpeed;

/// <summary>The ZeRO reader over every genuine DeepSpeed 0.14.4 fixture, and its refusals.</summary>
public sealed class ZeroCheckpointTests
{
    [TestCaseSource(typeof(DeepSpeedFixtures), nameof(DeepSpeedFixtures.All))]
    public void Fixture_weights_and_adam_moments_equal_the_reference_exactly(DeepSpeedFixtures.Fixture f)
    {
        ZeroSource source = ZeroCheckpoint.Read(f.Dir, tag: null, withOptimizerStates: true);
        SourceCatalog c = source.Catalog;
        string[] names = DeepSpeedFixtures.TinyPadParams.Select(p => p.Name).ToArray();
        Assert.That(c.Tensors.Where(t => !t.Name.Contains(".exp_avg") && !t.Name.EndsWith(".step")).Select(t => t.Name), Is.EqualTo(names), "weights in module order");
        Assert.That(source.Info.Stage, Is.EqualTo(f.Stage));
        Assert.That(source.Info.DpSize, Is.EqualTo(f.World));
        Assert.That(source.Info.StateTensors, Is.EquivalentTo(c.Tensors.Select(t => t.Name).Where(n => n.Contains(".exp_avg") || n.EndsWith(".step"))));
        foreach (var (name, shape) in DeepSpeedFixtures.TinyPadParams)
        {
            SourceTensor t = c[name];
            Assert.That(t.Shape, Is.EqualTo(shape), name);
            byte[] actual = MemoryMarshal.AsBytes(ZeroTestSupport.ReadF32(c, t).AsSpan()).ToArray();
            Assert.That(actual, Is.EqualTo(ZeroTestSupport.Reference(f.Reference, "fp32", name)), $"{f.Name} {name}");
            byte[]? refAvg = ZeroTestSupport.Reference(f.Reference, "exp_avg", name);
            if (f.Steps == 0)
            {
                Assert.That(c.Contains(name + ZeroCheckpoint.ExpAvgSuffix), Is.False, "no Adam state at step 0");
                continue;
            }
            Assert.That(MemoryMarshal.AsBytes(ZeroTestSupport.ReadF32(c, c[name + ZeroCheckpoint.ExpAvgSuffix]).AsSpan()).ToArray(), Is.EqualTo(refAvg), $"{f.Name} {name} exp_avg");
            Assert.That(MemoryMarshal.AsBytes(ZeroTestSupport.ReadF32(c, c[name + ZeroCheckpoint.ExpAvgSqSuffix]).AsSpan()).ToArray(),
                Is.EqualTo(ZeroTestSupport.Reference(f.Reference, "exp_avg_sq", name)), $"{f.Name} {name} exp_avg_sq");
            Assert.That(ZeroTestSupport.ReadF32(c, c[name + ZeroCheckpoint.StepSuffix]), Is.EqualTo(new[] { float.Parse(ZeroTestSupport.ReferenceStep(f.Reference)!) }));
        }
    }

    [Test]
    public void Without_optimizer_states_the_catalog_holds_only_weights()
    {
        ZeroSource source = ZeroCheckpoint.Read(DeepSpeedFixtures.All.First(f => f.Name == "z3_w4_bf16").Dir);
        Assert.That(source.Catalog.Tensors, Has.Count.EqualTo(21));
        Assert.That(source.Info.Optimizer, Is.EqualTo("DeepSpeedZeroOptimizer_Stage3"));
        Assert.That(source.Info.StateTensors, Is.Empty);
    }

    private static string CopyFixture(string name)
    {
        string dst = TestPaths.NewTempDir();
        foreach (string f in Directory.GetFiles(Path.Combine(DeepSpeedFixtures.Root, name), "*", SearchOption.AllDirectories))
        {
            string to = Path.Combine(dst, Path.GetRelativePath(Path.Combine(DeepSpeedFixtures.Root, name), f));
            Directory.CreateDirectory(Path.GetDirectoryName(to)!);
            File.Copy(f, to);
            File.SetAttributes(to, FileAttributes.Normal);
        }
        return dst;
    }

    [Test]
    public void A_missing_latest_without_a_tag_is_an_error_that_lists_the_tags()
    {
        string d = CopyFixture("z2_w2_bf16");
        File.Delete(Path.Combine(d, "latest"));
        Assert.That(() => ZeroCheckpoint.Open(d), Throws.TypeOf<CheckpointFormatException>().With.Message.Contains("global_step1").And.Message.Contains("latest"));
        Assert.That(ZeroCheckpoint.Open(d, "global_step1").Tensors, Has.Count.EqualTo(21), "an explicit tag needs no latest");
    }

    [Test]
    public void Latest_naming_a_missing_folder_is_an_error()
    {
        string d = CopyFixture("z1_w2_bf16");
        File.WriteAllText(Path.Combine(d, "latest"), "global_step9");
        Assert.That(() => ZeroCheckpoint.Open(d), Throws.TypeOf<CheckpointFormatException>().With.Message.Contains("global_step9").And.Message.Contains("named by 'latest'"));
        Assert.That(() => ZeroCheckpoint.Open(d, "nope"), Throws.TypeOf<CheckpointFormatException>().With.Message.Contains("'nope'"));
    }

    [Test]
    public void A_missing_rank_file_is_an_error_naming_it()
    {
        string d = CopyFixture("z3_w4_fp32");
        File.Delete(Path.Combine(d, "global_step1", "zero_pp_rank_2_mp_rank_00_optim_states.pt"));
        Assert.That(() => ZeroCheckpoint.Open(d), Throws.TypeOf<CheckpointFormatException>().With.Property("Path").EndsWith("zero_pp_rank_2_mp_rank_00_optim_states.pt"));
    }

    [Test]
    public void An_extra_rank_file_is_an_error_naming_it()
    {
        string d = CopyFixture("z2_w2_fp32");
        File.Copy(Path.Combine(d, "global_step1", "zero_pp_rank_1_mp_rank_00_optim_states.pt"), Path.Combine(d, "global_step1", "zero_pp_rank_2_mp_rank_00_optim_states.pt"));
        Assert.That(() => ZeroCheckpoint.Open(d), Throws.TypeOf<CheckpointFormatException>().With.Property("Path").EndsWith("zero_pp_rank_2_mp_rank_00_optim_states.pt").And.Message.Contains("2 data-parallel ranks"));
    }

    [Test]
    public void A_rank_file_from_another_run_is_an_error_naming_it()
    {
        string d = CopyFixture("z2_w2_fp32");
        File.Copy(Path.Combine(DeepSpeedFixtures.Root, "z2_w4_fp32", "global_step1", "zero_pp_rank_1_mp_rank_00_optim_states.pt"),
            Path.Combine(d, "global_step1", "zero_pp_rank_1_mp_rank_00_optim_states.pt"), overwrite: true);
        Assert.That(() => ZeroCheckpoint.Open(d), Throws.TypeOf<CheckpointFormatException>().With.Property("Path").EndsWith("zero_pp_rank_1_mp_rank_00_optim_states.pt").And.Message.Contains("partition_count"));
    }

    [Test]
    public void Optimizer_files_with_both_prefixes_are_ambiguous()
    {
        string d = CopyFixture("z1_w1_fp32");
        File.Copy(Path.Combine(d, "global_step1", "zero_pp_rank_0_mp_rank_00_optim_states.pt"), Path.Combine(d, "global_step1", "bf16_zero_pp_rank_0_mp_rank_00_optim_states.pt"));
        Assert.That(() => ZeroCheckpoint.Open(d), Throws.TypeOf<CheckpointFormatException>().With.Message.Contains("both"));
    }
}
