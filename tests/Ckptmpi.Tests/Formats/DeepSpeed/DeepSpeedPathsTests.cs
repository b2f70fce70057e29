using Ckptmpi.Formats.DeepSpeed;

namespace Ckptmpi.Tests.Formats.DeepSpeed;

public sealed class DeepSpeedPathsTests
{
    [Test]
    public void Optimizer_files_get_the_bf16_prefix_only_for_bf16_runs()
    {
        Assert.That(DeepSpeedPaths.OptimStates(0, bf16: true), Is.EqualTo("bf16_zero_pp_rank_0_mp_rank_00_optim_states.pt"));
        Assert.That(DeepSpeedPaths.OptimStates(1, bf16: false), Is.EqualTo("zero_pp_rank_1_mp_rank_00_optim_states.pt"));
    }

    [Test]
    public void Dp_rank_is_not_zero_padded_but_mp_rank_is_two_digits()
    {
        Assert.That(DeepSpeedPaths.OptimStates(10, bf16: false, mpRank: 3), Is.EqualTo("zero_pp_rank_10_mp_rank_03_optim_states.pt"));
        Assert.That(DeepSpeedPaths.ModelStates(100), Is.EqualTo("mp_rank_100_model_states.pt"));
    }

    [Test]
    public void Stage_3_has_one_model_state_file_per_rank_and_stages_1_2_one_in_total()
    {
        Assert.That(DeepSpeedPaths.ModelStatesFor(3, 47), Is.EqualTo("zero_pp_rank_47_mp_rank_00_model_states.pt"));
        Assert.That(DeepSpeedPaths.ModelStatesFor(2, 47), Is.EqualTo("mp_rank_00_model_states.pt"));
        Assert.That(DeepSpeedPaths.ModelStatesFor(1, 0), Is.EqualTo("mp_rank_00_model_states.pt"));
    }

    [Test]
    public void Default_tag_and_paths_in_the_tag_folder()
    {
        Assert.That(DeepSpeedPaths.DefaultTag(0), Is.EqualTo("global_step0"));
        Assert.That(DeepSpeedPaths.InTag("global_step7", DeepSpeedPaths.ModelStates()), Is.EqualTo("global_step7/mp_rank_00_model_states.pt"));
        Assert.That(() => DeepSpeedPaths.InTag("a/b", "x"), Throws.ArgumentException);
        Assert.That(() => DeepSpeedPaths.InTag("..", "x"), Throws.ArgumentException);
    }

    [Test]
    public void Optimizer_file_names_parse_back()
    {
        Assert.That(DeepSpeedPaths.TryParseOptimStates("bf16_zero_pp_rank_12_mp_rank_00_optim_states.pt", out int dp, out int mp, out bool bf16), Is.True);
        Assert.That((dp, mp, bf16), Is.EqualTo((12, 0, true)));
        Assert.That(DeepSpeedPaths.TryParseOptimStates("zero_pp_rank_x_mp_rank_00_optim_states.pt", out _, out _, out _), Is.False);
    }

    [Test]
    public void Every_fixture_file_name_is_one_we_build()
    {
        foreach (DeepSpeedFixtures.Fixture f in DeepSpeedFixtures.All)
        {
            var expected = new List<string>();
            for (int r = 0; r < f.World; r++)
            {
                expected.Add(DeepSpeedPaths.OptimStates(r, f.Bf16));
                if (f.Stage == 3) expected.Add(DeepSpeedPaths.Zero3ModelStates(r));
            }
            if (f.Stage < 3) expected.Add(DeepSpeedPaths.ModelStates());
            string[] actual = Directory.GetFiles(Path.Combine(f.Dir, f.Tag)).Select(Path.GetFileName).ToArray()!;
            Assert.That(actual, Is.EquivalentTo(expected), f.Name);
            Assert.That(File.ReadAllText(Path.Combine(f.Dir, DeepSpeedPaths.Latest)), Is.EqualTo(f.Tag), f.Name);
        }
    }
}
