using Ckptmpi.Conversion;
using Ckptmpi.Conversion.Verify;
using Ckptmpi.Errors;
using Ckptmpi.Formats.DeepSpeed;
using Ckptmpi.Formats.Safetensors;
using Ckptmpi.Formats.Torch;
using Ckptmpi.Formats.Torch.Pickle;
using Ckptmpi.Parallel;
using Ckptmpi.Tensors;
using Ckptmpi.Tests.Formats.Safetensors;
using Ckptmpi.Tests.Model;

namespace Ckptmpi.Tests.Conversion;

/// <summary>
/// HF -> ZeRO for every family: the checkpoint's <c>param_shapes</c> (the order DeepSpeed's flat partitions follow) is the
/// family's <c>named_parameters()</c> as written in <see cref="FamilyCase"/>, and ZeRO -> HF gives back the input.
/// </summary>
public sealed class FamilyZeroTests
{
    private string _dir = null!;

    [SetUp]
    public void SetUp()
    {
        _dir = TestPaths.NewTempDir();
        CollectivePhase.ExitCodeOf = Ckptmpi.Cli.ExitCodes.For;
    }

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    private static IEnumerable<TestCaseData> Cases() =>
        FamilyCase.All.SelectMany(c => new[] { 2, 3 }.Select(s => new TestCaseData(c, s).SetArgDisplayNames(c.Name, $"stage {s}")));

    /// <summary>A tiny checkpoint of <paramref name="c"/> in bf16 as transformers saves it (no tied head), plus extra tensors.</summary>
    internal static string WriteModel(string dir, FamilyCase c, params (string Name, DType DType, long[] Shape)[] extra)
    {
        Directory.CreateDirectory(dir);
        SafetensorsTestFiles.WriteCheckpoint(dir, [.. c.Expected.Select(p => (p.Name, DType.BF16, p.Shape)), .. extra]);
        File.WriteAllText(Path.Combine(dir, "config.json"), c.ConfigJson);
        return dir;
    }

    private ConvertRequest ToZero(string hf, string zero, int stage) => new()
    {
        From = "hf", To = "zero", Input = hf, Output = zero, MaxBuffer = 64 << 10, FormatOptions = [TrainingSettingsForTests.Zero(stage, 2)],
    };

    internal static List<(string Name, long[] Shape)> ParamShapes(string zero)
    {
        string file = Path.Combine(zero, "global_step0", "zero_pp_rank_0_mp_rank_00_model_states.pt");
        if (!File.Exists(file)) file = Path.Combine(zero, "global_step0", "mp_rank_00_model_states.pt");
        var groups = (PyList)((PyDict)TorchArchive.Open(file).Root).Get("param_shapes")!;
        return groups.Items.SelectMany(g => PyRead.Named((PyDict)g, file, "param_shapes").Select(p => (p.Name, PyRead.Shape(p.Value, file, p.Name)))).ToList();
    }

    [TestCaseSource(nameof(Cases))]
    public void Param_shapes_are_named_parameters_order_and_ZeRO_to_HF_gives_the_input_back(FamilyCase c, int stage)
    {
        string hf = WriteModel(Path.Combine(_dir, "hf"), c), zero = Path.Combine(_dir, "zero"), back = Path.Combine(_dir, "back");
        ThreadCommunicator.Run(2, comm => ConversionJob.Run(comm, ToZero(hf, zero, stage)), TimeSpan.FromSeconds(60));

        var shapes = ParamShapes(zero);
        Assert.That(shapes.Select(p => p.Name), Is.EqualTo(c.Expected.Select(p => p.Name)));
        Assert.That(shapes.Select(p => p.Shape), Is.EqualTo(c.Expected.Select(p => p.Shape)));

        ThreadCommunicator.Run(2, comm => ConversionJob.Run(comm, new ConvertRequest { From = "zero", To = "hf", Input = zero, Output = back, DType = DType.BF16, MaxBuffer = 64 << 10 }), TimeSpan.FromSeconds(60));
        var result = SafetensorsCheckpoint.Open(back);
        var source = SafetensorsCheckpoint.Open(hf);
        Assert.That(CatalogComparer.Compare(source, result).Where(p => p.Tensor != c.Tied?.Head), Is.Empty);
        if (c.Tied is var (head, embed)) Assert.That(result[head].Shape, Is.EqualTo(result[embed].Shape), "the tied head is written under its name too");
    }

    [Test]
    public void Old_GPT_2_mask_buffers_and_a_stored_copy_of_the_tied_head_are_ignored_and_a_different_head_is_refused()
    {
        FamilyCase gpt2 = FamilyCase.All.Single(c => c.Name == "gpt2");
        (string, DType, long[])[] buffers = [("transformer.h.0.attn.bias", DType.F32, [1, 1, 32, 32]), ("transformer.h.1.attn.masked_bias", DType.F32, [])];
        string hf = WriteModel(Path.Combine(_dir, "hf"), gpt2, [.. buffers, ("lm_head.weight", DType.BF16, [64, 16])]);
        CopyTensorBytes(hf, from: "transformer.wte.weight", to: "lm_head.weight");
        string zero = Path.Combine(_dir, "zero");
        ThreadCommunicator.Run(2, comm => ConversionJob.Run(comm, ToZero(hf, zero, 2)), TimeSpan.FromSeconds(60));
        Assert.That(ParamShapes(zero).Select(p => p.Name), Is.EqualTo(gpt2.Expected.Select(p => p.Name)), "buffers and the head copy are no parameters");

        string differs = WriteModel(Path.Combine(_dir, "hf2"), gpt2, ("lm_head.weight", DType.BF16, [64, 16]));
        var e = Assert.Throws<RankFailedException>(() => ThreadCommunicator.Run(2, comm => ConversionJob.Run(comm, ToZero(differs, Path.Combine(_dir, "zero2"), 2)), TimeSpan.FromSeconds(60)))!;
        Assert.That(e.Message, Does.Contain("lm_head.weight").And.Contain("transformer.wte.weight").And.Contain("values"));
        Assert.That(e.ExitCode, Is.EqualTo(3));
    }

    [Test]
    public void A_GPT_2_saved_from_the_base_model_gets_the_transformer_prefix_as_transformers_loads_it()
    {
        FamilyCase gpt2 = FamilyCase.All.Single(c => c.Name == "gpt2");
        string hf = Path.Combine(_dir, "hf");
        Directory.CreateDirectory(hf);
        // As the original GPT-2 release stores it: no "transformer." prefix, and each block's causal-mask buffer.
        SafetensorsTestFiles.WriteCheckpoint(hf, [.. gpt2.Expected.Select(p => (p.Name["transformer.".Length..], DType.BF16, p.Shape)), ("h.0.attn.bias", DType.F32, [1, 1, 32, 32])]);
        File.WriteAllText(Path.Combine(hf, "config.json"), gpt2.ConfigJson);
        string zero = Path.Combine(_dir, "zero");
        ThreadCommunicator.Run(2, comm => ConversionJob.Run(comm, ToZero(hf, zero, 3)), TimeSpan.FromSeconds(60));
        Assert.That(ParamShapes(zero).Select(p => p.Name), Is.EqualTo(gpt2.Expected.Select(p => p.Name)));
    }

    [Test]
    public void An_unknown_architecture_is_refused_for_ZeRO_and_converts_with_a_param_order_file()
    {
        FamilyCase neox = FamilyCase.All.Single(c => c.Name == "gpt_neox");
        string hf = WriteModel(Path.Combine(_dir, "hf"), neox);
        File.WriteAllText(Path.Combine(hf, "config.json"), neox.ConfigJson.Replace("GPTNeoXForCausalLM", "NeoNeoXForCausalLM").Replace("\"gpt_neox\"", "\"neoneox\""));
        string zero = Path.Combine(_dir, "zero");
        var e = Assert.Throws<RankFailedException>(() => ThreadCommunicator.Run(2, comm => ConversionJob.Run(comm, ToZero(hf, zero, 3)), TimeSpan.FromSeconds(60)))!;
        Assert.That(e.ExitCode, Is.EqualTo(3));
        Assert.That(e.Message, Does.Contain("NeoNeoXForCausalLM").And.Contain("--param-order").And.Contain("GPTNeoXForCausalLM"));
        Assert.That(Directory.Exists(zero) && Directory.EnumerateFileSystemEntries(zero).Any(), Is.False);

        string order = Path.Combine(_dir, "order.txt");
        File.WriteAllLines(order, neox.Expected.Select(p => p.Name));
        ThreadCommunicator.Run(2, comm => ConversionJob.Run(comm, ToZero(hf, zero, 3) with { FormatOptions = [TrainingSettingsForTests.Zero(3, 2) with { ParamOrder = order }] }), TimeSpan.FromSeconds(60));
        Assert.That(ParamShapes(zero).Select(p => p.Name), Is.EqualTo(neox.Expected.Select(p => p.Name)));
    }

    [Test]
    public void ZeRO_to_HF_without_a_config_json_is_refused_with_the_advice_to_pass_one()
    {
        string fixture = Path.Combine(TestPaths.Fixtures, "deepspeed", "z2_w2_bf16");
        var request = new ConvertRequest { From = "zero", To = "hf", Input = fixture, Output = Path.Combine(_dir, "hf"), DType = DType.BF16 };
        var e = Assert.Throws<RankFailedException>(() => ThreadCommunicator.Run(2, comm => ConversionJob.Run(comm, request), TimeSpan.FromSeconds(60)))!;
        Assert.That(e.Message, Does.Contain("no config.json").And.Contain("--config"));
        Assert.That(e.ExitCode, Is.EqualTo(3));
        Assert.That(Directory.Exists(request.Output) && Directory.EnumerateFileSystemEntries(request.Output).Any(), Is.False);
    }

    /// <summary>Overwrites tensor <paramref name="to"/>'s bytes with <paramref name="from"/>'s (same dtype and shape).</summary>
    private static void CopyTensorBytes(string dir, string from, string to)
    {
        var c = SafetensorsCheckpoint.Open(dir);
        var (src, dst) = (c[from].Pieces.Single(), c[to].Pieces.Single());
        byte[] bytes = new byte[src.Bytes.Length];
        using (var f = File.OpenRead(Path.Combine(c.Root, src.File))) { f.Position = src.ByteOffset; f.ReadExactly(bytes); }
        using (var f = File.OpenWrite(Path.Combine(c.Root, dst.File))) { f.Position = dst.ByteOffset; f.Write(bytes); }
    }
}
