using Ckptmpi.Conversion;
using Ckptmpi.Conversion.Demo;
using Ckptmpi.Conversion.Verify;
using Ckptmpi.Formats.DeepSpeed;
using Ckptmpi.Formats.Safetensors;
using Ckptmpi.Parallel;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Tests.Conversion.Verify;

/// <summary>
/// <c>ckptmpi verify OUT --against SRC</c>: value by value, through the format readers, for HF -> HF (widening and
/// narrowing) and HF <-> ZeRO in both directions; a changed value is reported with its tensor, index and both values.
/// </summary>
public sealed class ValueVerifierTests
{
    private string _dir = null!;
    private string _f32 = null!;

    private static readonly DemoModel Small = new() { HiddenSize = 64, IntermediateSize = 172, Layers = 2, VocabSize = 500, Heads = 4, KvHeads = 2, MaxShardBytes = 300_000, DType = DType.F32 };

    [OneTimeSetUp]
    public void MakeModel()
    {
        _dir = TestPaths.NewTempDir();
        _f32 = Path.Combine(_dir, "f32");
        Small.Write(_f32);
    }

    [OneTimeTearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    private string Convert(string input, string name, string from, string to, DType? dtype = null, int? stage = null, int? dp = null)
    {
        string output = Path.Combine(_dir, name);
        ThreadCommunicator.Run(2, comm => ConversionJob.Run(comm, new ConvertRequest
        {
            From = from, To = to, Input = input, Output = output, DType = dtype,
            FormatOptions = [new HfOptions { MaxShardSize = 200_000 }, new ZeroOptions { ZeroStage = stage, DpSize = dp, Optimizer = TrainingSettingsForTests.Bf16 }],
        }), TimeSpan.FromSeconds(120));
        return output;
    }

    private static List<VerifyProblem> Verify(string output, string source, int ranks = 3, ValueVerifier.Formats? formats = null)
    {
        ValueVerifier.Result[] r = ThreadCommunicator.Run(ranks, comm => ValueVerifier.Run(comm, output, source, formats, bufferBytes: 8192), TimeSpan.FromSeconds(120));
        foreach (ValueVerifier.Result x in r.Skip(1)) Assert.That(x.Problems, Is.EqualTo(r[0].Problems));
        Assert.That(r[0].Tensors, Is.GreaterThan(5));
        return r[0].Problems.ToList();
    }

    [Test]
    public void A_narrowing_conversion_equals_the_source_rounded_to_nearest_even_and_one_changed_value_is_named()
    {
        string bf16 = Convert(_f32, "bf16", "hf", "hf", DType.BF16);
        Assert.That(Verify(bf16, _f32), Is.Empty);

        // Change one element of one tensor by one ulp: the check is exact, not approximate.
        SourceCatalog catalog = SafetensorsCheckpoint.Open(bf16);
        SourceTensor victim = catalog.Tensors.First(t => t.ElementCount > 1000);
        SourcePiece piece = victim.Pieces[0];
        string file = Path.Combine(bf16, piece.File);
        using (var f = new FileStream(file, FileMode.Open)) { f.Position = piece.ByteOffset + 2 * 777; int b = f.ReadByte(); f.Position--; f.WriteByte((byte)(b ^ 1)); }
        File.Delete(Path.Combine(bf16, "ckptmpi-manifest.json")); // values only: formats are then detected
        List<VerifyProblem> problems = Verify(bf16, _f32, formats: new ValueVerifier.Formats());
        Assert.That(problems, Has.Count.EqualTo(1));
        Assert.That(problems[0].Kind, Is.EqualTo(VerifyProblemKind.Value));
        Assert.That(problems[0].Subject, Is.EqualTo(victim.Name));
        Assert.That(problems[0].Detail, Does.StartWith($"element 777 of {victim.ElementCount} differs (bf16): source ").And.Contain("rounded to nearest even").And.Contain(", output "));
    }

    [Test]
    public void A_widening_conversion_is_bit_exact_and_a_different_model_shows_missing_extra_and_shape_problems()
    {
        string bf16 = Convert(_f32, "bf16-src", "hf", "hf", DType.BF16);
        string back = Convert(bf16, "f32-again", "hf", "hf", DType.F32);
        Assert.That(Verify(back, bf16), Is.Empty);

        string other = Path.Combine(_dir, "other");
        (Small with { Layers = 1, VocabSize = 400 }).Write(other);
        List<VerifyProblem> problems = Verify(back, other, ranks: 2, formats: new ValueVerifier.Formats("hf", "hf"));
        Assert.That(problems.Where(p => p.Kind == VerifyProblemKind.TensorExtra).Select(p => p.Subject), Has.All.Contains("layers.1."));
        Assert.That(problems.Where(p => p.Kind == VerifyProblemKind.TensorExtra).Count(), Is.GreaterThan(3));
        Assert.That(problems.Single(p => p.Kind == VerifyProblemKind.Shape && p.Subject.Contains("embed")).Detail, Does.Contain("500").And.Contain("400"));
        Assert.That(problems.Where(p => p.Kind == VerifyProblemKind.Value), Is.Not.Empty, "same names, other values");
    }

    [TestCase(1)]
    [TestCase(3)]
    public void Hf_to_zero_and_zero_to_hf_verify_against_their_sources_in_both_directions(int stage)
    {
        string zero = Convert(_f32, $"zero{stage}", "hf", "zero", DType.BF16, stage, dp: 3);
        Assert.That(Verify(zero, _f32), Is.Empty, "fp32 masters equal the fp32 source");
        string hf = Convert(zero, $"hf-from-zero{stage}", "zero", "hf", DType.BF16);
        Assert.That(Verify(hf, zero), Is.Empty, "bf16 HF equals the ZeRO masters rounded to nearest even");
        Assert.That(Verify(hf, _f32, formats: new ValueVerifier.Formats("hf", "hf")), Is.Empty);
    }
}
