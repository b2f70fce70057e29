using Ckptmpi.Formats.Torch;
using Ckptmpi.Formats.Torch.Pickle;

namespace Ckptmpi.Tests.Formats.Torch;

/// <summary>The skeleton rendering of a real DeepSpeed optimizer file reads like a compact description of its dicts.</summary>
public sealed class PySkeletonTests
{
    [Test]
    public void A_zero_2_optimizer_file_renders_in_the_spec_notation()
    {
        string file = Path.Combine(TestPaths.Fixtures, "deepspeed", "z2_w2_bf16", "global_step1", "bf16_zero_pp_rank_0_mp_rank_00_optim_states.pt");
        string text = PySkeleton.Render(TorchArchive.Open(file).Root, maxItems: 12, maxDepth: 4);
        TestContext.Out.WriteLine(text);
        Assert.That(text, Does.StartWith("{'optimizer_state_dict': {'loss_scaler': LossScaler{'cur_scale': 1.0, 'dynamic': False}"));
        Assert.That(text, Does.Contain("'single_partition_of_fp32_groups': [T(f32,[54244])]"));
        Assert.That(text, Does.Contain("ZeroStageEnum(2)"));
        Assert.That(text, Does.Contain("'eps': 1e-08"));
        Assert.That(PySkeleton.Render(TorchArchive.Open(file).Root, maxItems: 2, maxDepth: 2), Does.Contain("+1 more").And.Contain("..."));
    }
}
