using Ckptmpi.Conversion;
using Ckptmpi.Conversion.Verify;
using Ckptmpi.Errors;
using Ckptmpi.Formats;
using Ckptmpi.Formats.MegaDs;
using Ckptmpi.Formats.Safetensors;
using Ckptmpi.Parallel;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Tests.Formats.MegaDs;

/// <summary>
/// <c>--from megads --to hf</c> on checkpoints written by the real Megatron-DeepSpeed: step 0 must give back the HF
/// model the run was initialised from bit for bit (fp32 from the masters, its bf16 rounding from the layer files),
/// step 1 the live engine's fp32 masters merged over tensor ranks by torch, independently of our merge.
/// </summary>
public sealed class MegaDsToHfTests
{
    private string _dir = null!;

    [SetUp]
    public void SetUp() => _dir = TestPaths.NewTempDir();

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    internal static string Convert(string input, string output, int ranks, MegaDsOptions options, DType? dtype = null)
    {
        var request = new ConvertRequest
        {
            From = MegaDsFormat.FormatName, To = "hf", Input = input, Output = output, DType = dtype, MaxBuffer = 64 << 10, FormatOptions = [options],
            NoReport = true,
        };
        ThreadCommunicator.Run(ranks, comm => ConversionJob.Run(comm, request), TimeSpan.FromSeconds(120));
        return output;
    }

    private static SourceCatalog Hf(string root) => SafetensorsCheckpoint.Open(MegaDsFixtures.HfDir(root));

    private static string[] TiedIgnore(string fixture) => fixture.Contains("tied", StringComparison.Ordinal) ? ["lm_head.weight"] : [];

    [TestCase("tp2_pp2_dp2", MegaDsWeightSource.Optimizer, DType.F32)]
    [TestCase("tp2_pp2_dp2", MegaDsWeightSource.Module, DType.BF16)]
    [TestCase("tp2_pp2_dp1_tied", MegaDsWeightSource.Optimizer, DType.F32)]
    [TestCase("tp2_pp2_dp1_tied", MegaDsWeightSource.Module, DType.BF16)]
    public void Step0_gives_back_the_HF_model_bit_for_bit(string fixture, MegaDsWeightSource from, DType expectedDType)
    {
        string input = Path.Combine(MegaDsFixtures.Repo, fixture, "step0");
        string output = Convert(input, Path.Combine(_dir, "out"), 2, new MegaDsOptions { WeightsFrom = from });
        SourceCatalog actual = SafetensorsCheckpoint.Open(output), expected = Hf(MegaDsFixtures.Repo);
        // The masters are the fp32 copy of the bf16 training weights; the layer files hold those bf16 weights.
        Assert.That(actual.Tensors.Select(t => t.DType).Distinct(), Is.EqualTo(new[] { expectedDType }));
        Assert.That(CatalogComparer.Compare(expected, actual, ignore: TiedIgnore(fixture)), Is.Empty);
        Assert.That(actual.Contains("lm_head.weight"), Is.EqualTo(!fixture.Contains("tied", StringComparison.Ordinal)), "a tied model has no lm_head tensor");
        string config = File.ReadAllText(Path.Combine(output, "config.json"));
        Assert.That(config, Does.Contain("\"vocab_size\": 250").And.Contain("\"num_key_value_heads\": 4"), "config.json from args: the real vocabulary, GQA");
    }

    [Test]
    public void The_reader_catalog_itself_equals_the_HF_model()
    {
        var format = new MegaDsFormat();
        SourceMetadata read = format.Reader.Open(new ReadSettings(Path.Combine(MegaDsFixtures.Repo, "tp2_pp2_dp2", "step0")), new MegaDsOptions());
        Assert.That(CatalogComparer.Compare(Hf(MegaDsFixtures.Repo), read.Catalog), Is.Empty);
        Assert.That(read.Facts.PreferredDType, Is.EqualTo(DType.F32));
        // TP merges are boxes of split shapes: a handful of pieces per tensor, never one per row.
        Assert.That(read.Catalog.Tensors.Max(t => t.Pieces.Count), Is.LessThanOrEqualTo(8));
        Assert.That(read.Catalog["model.layers.0.self_attn.o_proj.weight"].Pieces.All(p => p.Split is [32, 2, 16]), "row-parallel shards are boxes of [rows, tp, cols/tp]");
    }

    [TestCase(MegaDsWeightSource.Optimizer, "float32")]
    [TestCase(MegaDsWeightSource.Module, "bfloat16")]
    public void Step1_equals_the_live_engine_references(MegaDsWeightSource from, string dtype)
    {
        MegaDsFixtures.RequireTorch();
        string fixture = Path.Combine(MegaDsFixtures.Repo, "tp2_pp2_dp2");
        string output = Convert(Path.Combine(fixture, "step1"), Path.Combine(_dir, "out"), 2, new MegaDsOptions { WeightsFrom = from });
        Assert.That(MegaDsFixtures.CheckWithTorch(output, fixture, 1, dtype, MegaDsFixtures.Repo), Does.StartWith("OK 21 tensors"));
    }

    [Test]
    public void With_optimizer_states_the_Adam_moments_are_merged_as_the_weights_are()
    {
        MegaDsFixtures.RequireTorch();
        string fixture = Path.Combine(MegaDsFixtures.Repo, "tp2_pp2_dp2");
        string output = Convert(Path.Combine(fixture, "step1"), Path.Combine(_dir, "out"), 2, new MegaDsOptions { WithOptimizerStates = true });
        Assert.That(MegaDsFixtures.CheckWithTorch(output, fixture, 1, "float32", MegaDsFixtures.Repo), Does.StartWith("OK 21 tensors"));
        Assert.That(MegaDsFixtures.CheckWithTorch(output, fixture, 1, "float32", MegaDsFixtures.Repo, "exp_avg"), Does.StartWith("OK 21 tensors"));
        Assert.That(MegaDsFixtures.CheckWithTorch(output, fixture, 1, "float32", MegaDsFixtures.Repo, "exp_avg_sq"), Does.StartWith("OK 21 tensors"));
        SourceCatalog states = SafetensorsCheckpoint.Open(Path.Combine(output, HfWriterFolder));
        SourceTensor step = states["model.layers.0.self_attn.k_proj.weight.step"];
        Assert.That(step.Shape, Is.Empty, "torch Adam's step: one 0-dim tensor per parameter, shared by q, k and v of the fused QKV");
        Assert.That(states.Tensors.Count(t => t.Name.EndsWith(".step", StringComparison.Ordinal)), Is.EqualTo(21));
    }

    private const string HfWriterFolder = "optimizer_states";

    [Test]
    public void Tag_reads_an_iteration_other_than_latest()
    {
        // One --save folder with both iterations (as Megatron leaves it): 'latest' names global_step1.
        string save = Path.Combine(_dir, "save");
        CopyDir(Path.Combine(MegaDsFixtures.Repo, "tp2_pp2_dp2", "step1"), save);
        CopyDir(Path.Combine(MegaDsFixtures.Repo, "tp2_pp2_dp2", "step0", "global_step0"), Path.Combine(save, "global_step0"));
        string old = Convert(save, Path.Combine(_dir, "old"), 1, new MegaDsOptions { Tag = "global_step0" });
        Assert.That(CatalogComparer.Compare(Hf(MegaDsFixtures.Repo), SafetensorsCheckpoint.Open(old)), Is.Empty, "--tag global_step0 is the initial model");
        string latest = Convert(save, Path.Combine(_dir, "latest"), 1, new MegaDsOptions());
        Assert.That(CatalogComparer.Compare(Hf(MegaDsFixtures.Repo), SafetensorsCheckpoint.Open(latest)), Is.Not.Empty, "without --tag: the trained global_step1");
        var e = Assert.Catch<RankFailedException>(() => Convert(save, Path.Combine(_dir, "none"), 1, new MegaDsOptions { Tag = "global_step7" }));
        Assert.That(e!.Message, Does.Contain("global_step7").And.Contain("global_step0, global_step1"));
    }

    internal static void CopyDir(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (string f in Directory.GetFiles(from)) File.Copy(f, Path.Combine(to, Path.GetFileName(f)));
        foreach (string d in Directory.GetDirectories(from)) CopyDir(d, Path.Combine(to, Path.GetFileName(d)));
    }

    [Test]
    public void Output_is_identical_for_1_2_and_4_conversion_ranks()
    {
        string input = Path.Combine(MegaDsFixtures.Repo, "tp2_pp2_dp2", "step1");
        byte[]? first = null;
        foreach (int ranks in new[] { 1, 2, 4 })
        {
            string output = Convert(input, Path.Combine(_dir, $"r{ranks}"), ranks, new MegaDsOptions());
            byte[] bytes = File.ReadAllBytes(Path.Combine(output, "model.safetensors"));
            if (first is null) first = bytes;
            else Assert.That(bytes, Is.EqualTo(first), $"{ranks} ranks");
        }
    }

    [Test]
    public void Verify_against_the_megads_source_compares_every_value()
    {
        string input = Path.Combine(MegaDsFixtures.Repo, "tp2_pp2_dp2", "step1");
        string output = Convert(input, Path.Combine(_dir, "out"), 2, new MegaDsOptions(), DType.BF16);
        var r = TestPaths.RunCkptmpi(["verify", output, "--against", input]);
        Assert.That(r.ExitCode, Is.EqualTo(0), r.Stderr);
        Assert.That(r.Stdout + r.Stderr, Does.Contain("21 tensors").And.Contain("all equal"));
    }

    [Test]
    public void Detect_recognises_a_megads_folder_and_zero_does_not_claim_it()
    {
        var (format, what) = FormatRegistry.Detect(Path.Combine(MegaDsFixtures.Repo, "tp2_pp2_dp2", "step0"));
        Assert.That(format.Name, Is.EqualTo(MegaDsFormat.FormatName));
        Assert.That(what, Does.Contain("tp 2, pp 2"));
    }
}
