using Ckptmpi.Cli;
using Ckptmpi.Errors;
using Ckptmpi.Parallel;

namespace Ckptmpi.Tests.Cli;

public sealed class ExitCodesTests
{
    private static IEnumerable<TestCaseData> Cases()
    {
        yield return new TestCaseData(new CheckpointFormatException("a.safetensors", 0, "bad header"), ExitCodes.BadInput).SetName("Malformed input is bad input (3)");
        yield return new TestCaseData(new UnsupportedCheckpointException("dir", "Gemma3"), ExitCodes.BadInput).SetName("Unsupported input is bad input (3)");
        yield return new TestCaseData(new UsageException("--max-buffer 0"), ExitCodes.Usage).SetName("A usage exception is a usage error (2)");
        yield return new TestCaseData(new FormatOptionException("--dp-size", "--to zero needs --dp-size"), ExitCodes.Usage).SetName("An option value a format refuses is a usage error (2)");
        yield return new TestCaseData(new ArgumentException("bad argument"), ExitCodes.Internal).SetName("An ArgumentException from our own code is a bug (70)");
        yield return new TestCaseData(new MpiEnvironmentException("no libmpi"), ExitCodes.MpiEnvironment).SetName("An MPI environment problem is 4");
        yield return new TestCaseData(new MpiException("MPI_Bcast", 671762946, 2, "Invalid count"), ExitCodes.MpiEnvironment).SetName("A failed MPI call is 4");
        yield return new TestCaseData(new FileNotFoundException("x"), ExitCodes.IoError).SetName("A missing file is an I/O error (5)");
        yield return new TestCaseData(new OutputExistsException("out", "exists; pass --force"), ExitCodes.IoError).SetName("An existing output is an I/O error (5)");
        yield return new TestCaseData(new RankFailedException(3, 5, "disk full"), 5).SetName("Another rank's failure carries that rank's code");
        yield return new TestCaseData(new CommunicatorAbortedException(1, 7, "x"), 7).SetName("An abort carries its code");
        yield return new TestCaseData(new NullReferenceException(), ExitCodes.Internal).SetName("Anything else is an internal error (70)");
    }

    [TestCaseSource(nameof(Cases))]
    public void Maps(Exception e, int expected) => Assert.That(ExitCodes.For(e), Is.EqualTo(expected));

    [Test]
    public void The_documented_codes_are_distinct()
    {
        int[] codes = [ExitCodes.Success, ExitCodes.Usage, ExitCodes.BadInput, ExitCodes.MpiEnvironment, ExitCodes.IoError, ExitCodes.Internal];
        Assert.That(codes, Is.EqualTo(new[] { 0, 2, 3, 4, 5, 70 }));
    }
}
