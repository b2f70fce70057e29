using Ckptmpi.Conversion.Estimate;
using Ckptmpi.Model;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Tests.Conversion.Estimate;

public sealed class EstimateSourceTests
{
    private static readonly string TinyDir = Path.Combine(TestPaths.Fixtures, "hf", "tiny-pad-bf16");

    [Test]
    public void A_config_file_yields_the_family_canonical_tensors()
    {
        EstimateSource source = EstimateSource.Open(Path.Combine(TestPaths.Fixtures, "configs", "llama-3.1-405b.json"));
        Assert.That(source.Kind, Is.EqualTo(EstimateSourceKind.ConfigJson));
        Assert.That(source.Architecture, Is.EqualTo("LlamaForCausalLM"));
        Assert.That(source.Tensors.Sum(t => t.Elements), Is.EqualTo(405_853_388_800));
    }

    [Test]
    public void A_catalog_counts_its_tensors_but_not_the_rotary_buffers_old_checkpoints_carry()
    {
        ModelConfig config = ModelConfig.Load(TinyDir);
        var tensors = config.CanonicalTensors()
            .Select(t => new SourceTensor(t.Name, DType.BF16, t.Shape, []))
            .Append(new SourceTensor("model.layers.0.self_attn.rotary_emb.inv_freq", DType.F32, [8], []))
            .ToList();
        EstimateSource fromCatalog = EstimateSource.FromCatalog(new SourceCatalog(TinyDir, tensors), config);
        EstimateSource fromConfig = EstimateSource.FromConfig(config);
        Assert.That(fromCatalog.Tensors, Is.EquivalentTo(fromConfig.Tensors));
        Assert.That(fromCatalog.Kind, Is.EqualTo(EstimateSourceKind.SafetensorsHeaders));

        EstimateSource withoutConfig = EstimateSource.FromCatalog(new SourceCatalog(TinyDir, tensors), config: null);
        Assert.That(withoutConfig.Tensors, Has.Count.EqualTo(fromConfig.Tensors.Count + 1), "no family known: every stored tensor counts");
    }

    [Test]
    public void A_directory_without_config_or_safetensors_is_file_not_found()
    {
        string dir = TestPaths.NewTempDir();
        Assert.That(() => EstimateSource.Open(dir), Throws.TypeOf<FileNotFoundException>().With.Message.Contains(dir));
        Directory.Delete(dir);
        Assert.That(() => EstimateSource.Open(dir), Throws.TypeOf<FileNotFoundException>().With.Message.Contains("no such file or directory"));
    }
}
