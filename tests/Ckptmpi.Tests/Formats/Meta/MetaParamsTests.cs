using Ckptmpi.Errors;
using Ckptmpi.Formats.Meta;

namespace Ckptmpi.Tests.Formats.Meta;

public sealed class MetaParamsTests
{
    // Published Meta models: dim, multiple_of, ffn_dim_multiplier and the width their FeedForward has.
    [TestCase(4096, 256, null, 11008)]     // Llama 2 7B
    [TestCase(8192, 4096, 1.3, 28672)]     // Llama 2 70B
    [TestCase(4096, 1024, 1.3, 14336)]     // Llama 3 / 3.1 8B
    [TestCase(16384, 4096, 1.2, 53248)]    // Llama 3.1 405B
    [TestCase(64, 32, 1.3, 224)]           // the l3 fixture
    public void The_FFN_width_is_Meta_formula_and_the_inverse_gives_it_back(long dim, long multipleOf, double? multiplier, long width)
    {
        Assert.That(MetaParams.FfnDimOf(dim, multipleOf, multiplier), Is.EqualTo(width));
        (long m, double? f) = MetaParams.FfnArgsFor(dim, width);
        Assert.That(MetaParams.FfnDimOf(dim, m, f), Is.EqualTo(width));
    }

    [TestCase(64, 1), TestCase(128, 351), TestCase(4096, 11007)]
    public void Any_width_has_arguments_that_give_it(long dim, long width)
    {
        (long m, double? f) = MetaParams.FfnArgsFor(dim, width);
        Assert.That(MetaParams.FfnDimOf(dim, m, f), Is.EqualTo(width));
    }

    [Test]
    public void Params_nested_under_model_and_Llama_2_defaults_are_read()
    {
        MetaParams p = MetaParams.Parse("""{"model": {"dim": 64, "multiple_of": 32, "n_heads": 4, "n_layers": 2, "norm_eps": 1e-05, "vocab_size": -1}}""", "params.json");
        Assert.That((p.KvHeads, p.RopeTheta, p.UseScaledRope, p.VocabSize, p.FfnDim), Is.EqualTo((4L, 10000.0, false, -1L, 192L)));
    }

    [Test]
    public void Written_params_read_back_with_Python_style_floats()
    {
        var p = new MetaParams { Dim = 64, Layers = 3, Heads = 8, KvHeads = 2, VocabSize = 256, MultipleOf = 32, FfnDimMultiplier = 1.3, NormEps = 1e-5, RopeTheta = 500000, UseScaledRope = true };
        string json = p.ToJson();
        Assert.That(json, Does.Contain("\"norm_eps\":1e-05").And.Contain("\"rope_theta\":500000.0").And.Contain("\"n_kv_heads\":2"));
        Assert.That(MetaParams.Parse(json, "params.json"), Is.EqualTo(p));
    }

    [TestCase("""{"dim": 64, "n_layers": 2}""", "n_heads")]
    [TestCase("""{"dim": 60, "n_layers": 2, "n_heads": 8}""", "not a multiple of n_heads")]
    [TestCase("""{"dim": 64, "n_layers": 2, "n_heads": 8, "n_kv_heads": 3}""", "n_kv_heads 3")]
    [TestCase("""not json""", "not valid JSON")]
    public void Bad_params_json_is_named(string text, string reason)
    {
        var e = Assert.Throws<CheckpointFormatException>(() => MetaParams.Parse(text, "/x/params.json"))!;
        Assert.That(e.Message, Does.Contain("/x/params.json").And.Contain(reason));
    }
}
