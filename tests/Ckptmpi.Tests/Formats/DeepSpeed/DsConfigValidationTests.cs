using Ckptmpi.Formats.DeepSpeed;
using Ckptmpi.Tensors;

namespace Ckptmpi.Tests.Formats.DeepSpeed;

/// <summary>A ds_config is checked like the command line: a value DeepSpeed would train nonsense with is an error naming its key.</summary>
public sealed class DsConfigValidationTests
{
    private const string Good = """
        {"train_micro_batch_size_per_gpu": 1, "gradient_clipping": 1.0,
         "optimizer": {"type": "AdamW", "params": {"lr": 3e-4, "betas": [0.9, 0.95], "eps": 1e-8, "weight_decay": 0.1}},
         "bf16": {"enabled": true}, "zero_optimization": {"stage": 2}}
        """;

    [Test]
    public void A_good_config_gives_its_values()
    {
        ZeroWriteOptions o = ZeroWriteOptions.FromDsConfig(Good, dpSize: 2);
        Assert.That((o.Stage, o.DType, o.GradientClipping, o.Optimizer.Lr, o.Optimizer.Beta2, o.Optimizer.WeightDecay), Is.EqualTo((2, DType.BF16, 1.0, 3e-4, 0.95, 0.1)));
        Assert.That(o.Describe(), Does.Contain("lr 0.0003").And.Contain("betas [0.9, 0.95]").And.Contain("gradient_clipping 1").And.Contain("ZeRO-2"));
    }

    [TestCase("\"lr\": 3e-4", "\"lr\": 1e400", "optimizer.params.lr", "finite")]
    [TestCase("\"lr\": 3e-4", "\"lr\": -1", "optimizer.params.lr", "at least 0")]
    [TestCase("\"betas\": [0.9, 0.95]", "\"betas\": [0.9, 5]", "optimizer.params.betas", "[0, 1)")]
    [TestCase("\"eps\": 1e-8", "\"eps\": -1", "optimizer.params.eps", "greater than 0")]
    [TestCase("\"weight_decay\": 0.1", "\"weight_decay\": -0.1", "optimizer.params.weight_decay", "at least 0")]
    [TestCase("\"gradient_clipping\": 1.0", "\"gradient_clipping\": -2", "gradient_clipping", "at least 0")]
    [TestCase("\"bf16\": {\"enabled\": true}", "\"bf16\": {\"enabled\": true}, \"fp16\": {\"enabled\": true}", "fp16.enabled", "both true")]
    [TestCase("\"bf16\": {\"enabled\": true}", "\"fp16\": {\"enabled\": true, \"loss_scale_window\": 0}", "fp16.loss_scale_window", "integer from 1")]
    [TestCase("\"bf16\": {\"enabled\": true}", "\"fp16\": {\"enabled\": true, \"min_loss_scale\": 0}", "fp16.min_loss_scale", "greater than 0")]
    [TestCase("\"bf16\": {\"enabled\": true}", "\"fp16\": {\"enabled\": true, \"initial_scale_power\": 2.5}", "fp16.initial_scale_power", "integer")]
    [TestCase("\"stage\": 2", "\"stage\": 7", "zero_optimization.stage", "integer from 0 to 3")]
    public void An_invalid_value_is_refused_naming_its_key(string from, string to, string key, string why)
    {
        string json = Good.Replace(from, to);
        Assert.That(json, Is.Not.EqualTo(Good));
        var e = Assert.Throws<ArgumentException>(() => ZeroWriteOptions.FromDsConfig(json, dpSize: 2))!;
        Assert.That(e.Message, Does.Contain(key).And.Contain(why));
    }

    [Test]
    public void A_stage_that_contradicts_zero_stage_is_refused_and_an_equal_one_is_fine()
    {
        var e = Assert.Throws<ArgumentException>(() => ZeroWriteOptions.FromDsConfig(Good, dpSize: 2, stage: 3))!;
        Assert.That(e.Message, Does.Contain("zero_optimization.stage").And.Contain("--zero-stage is 3"));
        Assert.That(ZeroWriteOptions.FromDsConfig(Good, dpSize: 2, stage: 2).Stage, Is.EqualTo(2));
    }

    [Test]
    public void A_config_nested_100000_deep_is_an_error_not_a_crash()
    {
        string deep = "{\"a\": " + new string('[', 100_000) + new string(']', 100_000) + "}";
        var e = Assert.Throws<ArgumentException>(() => ZeroWriteOptions.FromDsConfig(deep, dpSize: 2))!;
        Assert.That(e.Message, Does.Contain("deeper than 64"));
    }

    [Test]
    public void Fp16_loss_scaling_keys_are_read()
    {
        string json = Good.Replace("\"bf16\": {\"enabled\": true}", "\"fp16\": {\"enabled\": true, \"loss_scale\": 0, \"initial_scale_power\": 12, \"loss_scale_window\": 500, \"hysteresis\": 3, \"min_loss_scale\": 0.5}");
        ZeroWriteOptions o = ZeroWriteOptions.FromDsConfig(json, dpSize: 2);
        Assert.That((o.DType, o.StaticLossScale, o.InitialScalePower, o.LossScaleWindow, o.Hysteresis, o.MinLossScale), Is.EqualTo((DType.F16, 0.0, 12, 500, 3, 0.5)));
        Assert.That(o.Describe(), Does.Contain("dynamic loss scale (initial_scale_power 12, loss_scale_window 500, hysteresis 3, min_loss_scale 0.5)"));
    }
}
