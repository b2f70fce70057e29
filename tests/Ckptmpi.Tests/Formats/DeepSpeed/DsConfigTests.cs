using System.Text.Json;
using Ckptmpi.Formats.DeepSpeed;
using Ckptmpi.Formats.Torch.Pickle;
using Ckptmpi.Tensors;

namespace Ckptmpi.Tests.Formats.DeepSpeed;

public sealed class DsConfigTests
{
    private const string HfTrainerStyle = """
        {"train_micro_batch_size_per_gpu": "auto", "gradient_clipping": "auto",
         "optimizer": {"type": "AdamW", "params": {"lr": "auto", "betas": "auto", "eps": "auto", "weight_decay": "auto"}},
         "bf16": {"enabled": "auto"}, "zero_optimization": {"stage": 3, "sub_group_size": 1e9}}
        """;

    [Test]
    public void Json_numbers_become_python_ints_or_floats_as_json_load_makes_them()
    {
        using var doc = JsonDocument.Parse("""{"a": 1, "b": 1.0, "c": 1e-08, "d": [true, null, "x"]}""");
        var d = (PyDict)DsConfig.ToPy(doc.RootElement);
        Assert.That(d.Get("a"), Is.EqualTo(new PyInt(1)));
        Assert.That(d.Get("b"), Is.EqualTo(new PyFloat(1.0)));
        Assert.That(d.Get("c"), Is.EqualTo(new PyFloat(1e-8)));
        Assert.That(((PyList)d.Get("d")!).Items, Is.EqualTo(new PyValue[] { PyBool.True, PyNone.Instance, new PyString("x") }));
    }

    [Test]
    public void The_stored_config_drops_the_keys_DeepSpeed_pops_while_building_the_optimizer()
    {
        string json = File.ReadAllText(Path.Combine(DeepSpeedFixtures.Root, "z1_w2_bf16", "ds_config.json"));
        var o = ZeroWriteOptions.FromDsConfig(json, 2);
        var stored = (PyDict)DsConfig.For(o);
        var p = (PyDict)((PyDict)stored.Get("optimizer")!).Get("params")!;
        Assert.That(PyRead.Keys(p), Is.EqualTo(new[] { "lr", "betas", "eps", "weight_decay" }));
    }

    [Test]
    public void Auto_values_of_a_HF_Trainer_config_fall_back_to_defaults_when_the_dtype_is_given()
    {
        var o = ZeroWriteOptions.FromDsConfig(HfTrainerStyle, dpSize: 8, dtype: DType.BF16);
        Assert.That((o.Stage, o.DType, o.GradientClipping, o.Optimizer.Lr, o.SubGroupSize), Is.EqualTo((3, DType.BF16, 0.0, 1e-3, 1_000_000_000L)));
        Assert.That(() => ZeroWriteOptions.FromDsConfig(HfTrainerStyle, dpSize: 8), Throws.ArgumentException.With.Message.Contains("--dtype"));
    }

    [Test]
    public void A_non_numeric_value_is_an_error_naming_the_key()
    {
        Assert.That(() => ZeroWriteOptions.FromDsConfig("""{"gradient_clipping": "high", "zero_optimization": {"stage": 2}}""", 2),
            Throws.ArgumentException.With.Message.Contains("gradient_clipping"));
        Assert.That(() => ZeroWriteOptions.FromDsConfig("""{"zero_optimization": {"stage": 2}, "optimizer": {"type": "Lamb"}}""", 2),
            Throws.ArgumentException.With.Message.Contains("Lamb"));
    }
}
