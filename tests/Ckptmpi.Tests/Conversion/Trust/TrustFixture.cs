using Ckptmpi.Conversion;
using Ckptmpi.Conversion.Demo;
using Ckptmpi.Errors;
using Ckptmpi.Parallel;
using Ckptmpi.Tensors;
using Ckptmpi.Tests.Conversion.Journal;

using Ckptmpi.Formats.Safetensors;

namespace Ckptmpi.Tests.Conversion.Trust;

/// <summary>
/// A small generated HF model in a fresh directory, and ways to run a conversion of it in process (ranks as threads)
/// or as the real program, collecting what every rank saw.
/// </summary>
public abstract class TrustFixture
{
    protected string Dir = null!;
    protected string Model = null!;

    [SetUp]
    public void CreateModel()
    {
        Interruption.Reset();
        CollectivePhase.ExitCodeOf = Ckptmpi.Cli.ExitCodes.For; // as the CLI installs it
        Dir = TestPaths.NewTempDir();
        Model = Path.Combine(Dir, "model");
        new DemoModel { HiddenSize = 64, IntermediateSize = 172, Layers = 2, VocabSize = 500, Heads = 4, KvHeads = 2, MaxShardBytes = 200_000 }.Write(Model);
    }

    [TearDown]
    public void RemoveDirectory()
    {
        Interruption.Reset();
        try { Directory.Delete(Dir, recursive: true); }
        catch (IOException) { }
    }

    protected ConvertRequest HfToHf(string output, bool overwrite = false, bool resume = false) => new()
    {
        From = "hf", To = "hf", Input = Model, Output = output, DType = DType.F32, FormatOptions = [new HfOptions { MaxShardSize = 150_000 }], MaxBuffer = 64 << 10,
        Overwrite = overwrite, Resume = resume,
    };

    /// <summary>Runs the job on <paramref name="ranks"/> thread ranks; null on success, else every rank's message (all equal).</summary>
    /// <param name="faults">a crash or a full disk to simulate, through the tests' hook decorator.</param>
    internal static string? RunInProcess(ConvertRequest request, int ranks = 2, InjectedFaults? faults = null)
    {
        string?[] messages = ThreadCommunicator.Run(ranks, comm =>
        {
            try { ConversionJob.Run(comm, request, journal => faults is null ? journal : new FaultInjectingHooks(journal, faults)); return null; }
            catch (RankFailedException e) { return e.Message; }
        }, TimeSpan.FromSeconds(60));
        Assert.That(messages.Distinct().Count(), Is.EqualTo(1), "every rank ends with the same outcome:\n" + string.Join("\n", messages));
        return messages[0];
    }

    /// <summary>The real program, as one plain process (a few seconds at most: a hang is a failure).</summary>
    protected static ProcessResult RunProgram(params string[] args) => TestPaths.RunCkptmpi(args, timeoutSeconds: 60);

    protected static string[] FilesUnder(string dir) =>
        Directory.Exists(dir) ? Directory.GetFiles(dir, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(dir, f)).Order().ToArray() : [];
}
