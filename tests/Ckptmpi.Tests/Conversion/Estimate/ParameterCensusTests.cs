using System.Text.RegularExpressions;
using Ckptmpi.Conversion.Estimate;
using Ckptmpi.Model;

namespace Ckptmpi.Tests.Conversion.Estimate;

public sealed class ParameterCensusTests
{
    private static ModelConfig Config(string file) => ModelConfig.Load(Path.Combine(TestPaths.Fixtures, "configs", file));

    [Test]
    public void Llama_3_3_70b_as_automodel_has_69503m_parameters_and_embed_tokens_is_the_largest_layer()
    {
        ParameterCensus census = ParameterCensus.Take(Config("llama-3.3-70b-instruct.json").CanonicalTensors(), new Regex("lm_head"));
        Assert.That(census.TotalParameters, Is.EqualTo(69_503_033_344));
        Assert.That(census.LargestLayerParameters, Is.EqualTo(128_256L * 8192));
        Assert.That(census.LargestLayerModule, Is.EqualTo("model.embed_tokens"));
        Assert.That(census.ExcludedTensors, Is.EqualTo(new[] { "lm_head.weight" }));
        Assert.That(census.ExcludedParameters, Is.EqualTo(128_256L * 8192));
        Assert.That(DeepSpeedTable.Millions(census.TotalParameters), Is.EqualTo(69503));
        Assert.That(DeepSpeedTable.Millions(census.LargestLayerParameters), Is.EqualTo(1050));
    }

    [Test]
    public void Without_exclusion_the_causal_lm_counts_its_lm_head()
    {
        ParameterCensus census = ParameterCensus.Take(Config("llama-3.3-70b-instruct.json").CanonicalTensors());
        Assert.That(census.TotalParameters, Is.EqualTo(70_553_706_496));
        Assert.That(DeepSpeedTable.Millions(census.TotalParameters), Is.EqualTo(70553));
        Assert.That(census.ExcludedTensors, Is.Empty);
    }

    [Test]
    public void A_module_owns_the_sum_of_its_direct_parameters_weight_and_bias_together()
    {
        // DeepSpeed: sum(p.numel() for p in m.parameters(recurse=False)); q_proj = weight 6 + bias 3 = 9 beats embed 8.
        ParameterCensus census = ParameterCensus.Take(
        [
            ("model.embed_tokens.weight", 8L),
            ("model.layers.0.self_attn.q_proj.weight", 6L),
            ("model.layers.0.self_attn.q_proj.bias", 3L),
            ("model.layers.0.self_attn.k_proj.weight", 7L),
            ("scale", 1L),
        ]);
        Assert.That(census.TotalParameters, Is.EqualTo(25));
        Assert.That(census.LargestLayerModule, Is.EqualTo("model.layers.0.self_attn.q_proj"));
        Assert.That(census.LargestLayerParameters, Is.EqualTo(9));
        Assert.That(census.ModuleCount, Is.EqualTo(4), "embed, q_proj, k_proj and the root module");
    }

    [Test]
    public void Ties_go_to_the_first_module_in_parameter_order()
    {
        ParameterCensus census = ParameterCensus.Take(Config("llama-3.1-8b.json").CanonicalTensors());
        Assert.That(census.LargestLayerModule, Is.EqualTo("model.embed_tokens"), "lm_head is as large but comes last");
    }

    [Test]
    public void Exclusion_searches_anywhere_in_the_name()
    {
        ParameterCensus census = ParameterCensus.Take(Config("llama-2-7b.json").CanonicalTensors(), new Regex(@"layers\.(1|2)\.mlp"));
        Assert.That(census.ExcludedTensors, Has.Count.EqualTo(6));
        Assert.That(census.ExcludedParameters, Is.EqualTo(6L * 4096 * 11008));
        Assert.That(census.TotalParameters, Is.EqualTo(6_738_415_616 - 6L * 4096 * 11008));
    }

    [Test]
    public void A_tensor_listed_twice_is_a_caller_bug()
    {
        Assert.That(() => ParameterCensus.Take([("a.weight", 1L), ("a.weight", 1L)]), Throws.ArgumentException.With.Message.Contains("a.weight"));
    }
}
