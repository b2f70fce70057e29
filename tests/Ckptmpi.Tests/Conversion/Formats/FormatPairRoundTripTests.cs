using Ckptmpi.Conversion;
using Ckptmpi.Conversion.Verify;
using Ckptmpi.Formats;
using Ckptmpi.Formats.DeepSpeed;
using Ckptmpi.Formats.Safetensors;
using Ckptmpi.Parallel;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Tests.Conversion.Formats;

/// <summary>
/// Every (reader, writer) pair the registry lists, through the generic path: the tiny fixture model is brought into
/// the reader's format, converted to the writer's, and back to HF, and must equal the original bit for bit. A format
/// registered later adds its pairs here by itself. A write-only format (maxtext) has no way back to HF: its own tests
/// compare its output with what the real tool writes.
/// </summary>
public sealed class FormatPairRoundTripTests
{
    /// <summary>Options a writer cannot do without (a ZeRO target's training job); other formats use their defaults.</summary>
    private static readonly Dictionary<string, FormatOptions> RequiredWriteOptions = new()
    {
        ["zero"] = TrainingSettingsForTests.Zero(3, 3),
        ["megads"] = new Ckptmpi.Formats.MegaDs.MegaDsOptions { TpSize = 1, PpSize = 1, DpSize = 3 },
    };

    /// <summary>
    /// Formats that cannot hold the fixture model (hidden 65 with 4 heads of 16), or cannot be written from HF weights,
    /// with what their refusal says: their pairs prove the refusal is bad input naming the reason, and their own tests
    /// cover their pairs with a checkpoint they hold.
    /// </summary>
    private static readonly Dictionary<string, string> CannotHoldFixture = new()
    {
        ["meta"] = "hidden_size 65 is not a multiple of num_attention_heads 4",
        // DeepSpeed's universal checkpoint is made from a trained run's ZeRO partitions and Megatron's model states,
        // which HF weights do not have: UniversalTests and UniversalToZeroTests convert the real tool's files instead.
        ["universal"] = "a universal checkpoint is made from a trained Megatron-DeepSpeed checkpoint",
    };

    private static string Fixture => Path.Combine(TestPaths.Fixtures, "hf", "tiny-pad-bf16");

    private string _dir = null!;

    [OneTimeSetUp]
    public void SetUp() => _dir = TestPaths.NewTempDir();

    [OneTimeTearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    // A reader without a writer cannot have its source written by the generic path; its own tests convert the real
    // tools' checkpoints instead.
    private static IEnumerable<ICheckpointFormat> RoundTripReaders => FormatRegistry.Readers.Where(f => f.Writer is not null);

    public static IEnumerable<TestCaseData> Pairs() =>
        from r in RoundTripReaders
        from w in RoundTripWriters
        select new TestCaseData(r.Name, w.Name).SetName($"Round trip through --from {r.Name} --to {w.Name} is bit-exact");

    private static IEnumerable<ICheckpointFormat> RoundTripWriters => FormatRegistry.Writers.Where(f => f.Reader is not null);

    [Test]
    public void The_pairs_cover_every_registered_reader_and_writer()
    {
        var pairs = Pairs().Select(p => ((string)p.Arguments[0]!, (string)p.Arguments[1]!)).ToList();
        Assert.That(pairs, Has.Count.EqualTo(RoundTripReaders.Count() * RoundTripWriters.Count()));
        Assert.That(pairs, Does.Contain(("hf", "hf")).And.Contain(("zero", "zero")).And.Contain(("hf", "zero")).And.Contain(("zero", "hf")));
    }

    [TestCaseSource(nameof(Pairs))]
    public void Round_trip(string from, string to)
    {
        string pair = Path.Combine(_dir, $"{from}-{to}");
        foreach (string format in new[] { from, to }.Where(CannotHoldFixture.ContainsKey))
        {
            Ckptmpi.Parallel.CollectivePhase.ExitCodeOf = Ckptmpi.Cli.ExitCodes.For; // as the CLI installs it
            var e = Assert.Throws<Ckptmpi.Errors.RankFailedException>(() => Convert("hf", format, Fixture, Path.Combine(pair, "refused"), null))!;
            Assert.That(e.Message, Does.Contain(CannotHoldFixture[format]));
            Assert.That(e.ExitCode, Is.EqualTo(3), "bad input");
            return;
        }
        // The source in the reader's format: the fixture itself for hf, else written by that format's own writer.
        string source = from == "hf" ? Fixture : Convert("hf", from, Fixture, Path.Combine(pair, "source"), null);
        string target = Convert(from, to, source, Path.Combine(pair, "target"), null);
        string back = Convert(to, "hf", target, Path.Combine(pair, "back"), DType.BF16);

        SourceCatalog expected = SafetensorsCheckpoint.Open(Fixture), actual = SafetensorsCheckpoint.Open(back);
        Assert.That(actual.Tensors.Select(t => (t.Name, t.DType)), Is.EquivalentTo(expected.Tensors.Select(t => (t.Name, t.DType))));
        Assert.That(CatalogComparer.Compare(expected, actual), Is.Empty);
        Assert.That(File.ReadAllText(Path.Combine(back, "config.json")), Is.EqualTo(File.ReadAllText(Path.Combine(Fixture, "config.json"))), "config.json travels through every pair");
    }

    private static string Convert(string from, string to, string input, string output, DType? dtype)
    {
        var request = new ConvertRequest
        {
            From = from, To = to, Input = input, Output = output, DType = dtype, MaxBuffer = 64 << 10,
            FormatOptions = RequiredWriteOptions.TryGetValue(to, out FormatOptions? o) ? [o] : [],
        };
        ThreadCommunicator.Run(2, comm => ConversionJob.Run(comm, request), TimeSpan.FromSeconds(120));
        return output;
    }
}
