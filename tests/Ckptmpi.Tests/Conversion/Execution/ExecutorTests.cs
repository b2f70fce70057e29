using Ckptmpi.Conversion.Manifests;
using Ckptmpi.Conversion.Execution;
using Ckptmpi.Conversion.Planning;
using Ckptmpi.Errors;
using Ckptmpi.Parallel;
using Ckptmpi.Tensors.Checksums;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Tests.Conversion.Execution;

public sealed class ExecutorTests
{
    private string _dir = null!;

    [SetUp]
    public void SetUp() => _dir = TestPaths.NewTempDir();

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    [TestCase(1, false), TestCase(2, true), TestCase(3, false), TestCase(4, true)]
    public void Every_file_holds_exactly_the_reference_bytes_whatever_the_rank_count(int ranks, bool zeroLike)
    {
        int seed = TestContext.CurrentContext.Random.Next();
        TestContext.Out.WriteLine($"seed {seed}");
        var model = SyntheticCheckpoint.Create(_dir, seed, zeroLike);
        string output = Path.Combine(_dir, "out");
        ExecutionResult[] results = ThreadCommunicator.Run(ranks, comm =>
        {
            Plan plan = Planner.Build(model.Layout, model.Catalog, new PlanOptions(comm.Size, BufferBudget.MinChunkBytes));
            return Executor.Run(comm, plan, model.Catalog.Root, output, new ExecutionOptions());
        }, TimeSpan.FromSeconds(60));

        foreach (OutputFile f in model.Layout.Files)
        {
            byte[] actual = File.ReadAllBytes(Path.Combine(output, f.RelativePath));
            Assert.That(actual, Is.EqualTo(model.Expected(f)), f.RelativePath);
            OutputChecksum reported = results[0].Files.Single(r => r.Path == f.RelativePath);
            Assert.That(reported.Checksum, Is.EqualTo(Crc32.Hash(actual).ToString("x8")), $"checksum of {f.RelativePath}");
        }
        Assert.That(Directory.GetFiles(output, "*.tmp", SearchOption.AllDirectories), Is.Empty);
    }

    [TestCase(1), TestCase(2), TestCase(3), TestCase(4)]
    public void Aggregate_io_writes_the_same_bytes_as_direct_io(int ranks)
    {
        int seed = TestContext.CurrentContext.Random.Next();
        TestContext.Out.WriteLine($"seed {seed}");
        var model = SyntheticCheckpoint.Create(_dir, seed, zeroLike: ranks % 2 == 0);
        string direct = Path.Combine(_dir, "direct"), aggregate = Path.Combine(_dir, "aggregate");
        foreach (var (output, io) in new[] { (direct, IoMode.Direct), (aggregate, IoMode.Aggregate) })
        {
            ThreadCommunicator.Run(ranks, comm =>
            {
                Plan plan = Planner.Build(model.Layout, model.Catalog, new PlanOptions(comm.Size, BufferBudget.MinChunkBytes));
                Executor.Run(comm, plan, model.Catalog.Root, output, new ExecutionOptions(Io: io));
            }, TimeSpan.FromSeconds(60));
        }
        foreach (OutputFile f in model.Layout.Files)
            Assert.That(File.ReadAllBytes(Path.Combine(aggregate, f.RelativePath)), Is.EqualTo(File.ReadAllBytes(Path.Combine(direct, f.RelativePath))), f.RelativePath);
    }

    [TestCase(IoMode.Direct), TestCase(IoMode.Aggregate)]
    public void A_truncated_source_fails_every_rank_with_one_message_and_leaves_no_file_behind(IoMode io)
    {
        var model = SyntheticCheckpoint.Create(_dir, 11);
        string part = Path.Combine(_dir, "part1.bin");
        File.WriteAllBytes(part, File.ReadAllBytes(part)[..100]);
        string output = Path.Combine(_dir, "out");

        string[] messages = ThreadCommunicator.Run(3, comm =>
        {
            Plan plan = Planner.Build(model.Layout, model.Catalog, new PlanOptions(comm.Size, BufferBudget.MinChunkBytes));
            try
            {
                Executor.Run(comm, plan, model.Catalog.Root, output, new ExecutionOptions(Io: io));
                return "no error";
            }
            catch (RankFailedException e)
            {
                return e.Message;
            }
        }, TimeSpan.FromSeconds(60));

        Assert.That(messages.Distinct().Count(), Is.EqualTo(1), string.Join("\n", messages));
        Assert.That(messages[0], Does.Contain("part1.bin").And.Contain("truncated"));
        Assert.That(Directory.GetFiles(output, "*", SearchOption.AllDirectories), Is.Empty);
    }

    [Test]
    public void An_output_directory_holding_a_checkpoint_is_refused_unless_overwrite_is_given()
    {
        var model = SyntheticCheckpoint.Create(_dir, 5);
        string output = Path.Combine(_dir, "out");
        void Convert(bool overwrite) => ThreadCommunicator.Run(2, comm =>
        {
            Plan plan = Planner.Build(model.Layout, model.Catalog, new PlanOptions(comm.Size, 1 << 20));
            Executor.Run(comm, plan, model.Catalog.Root, output, new ExecutionOptions(Overwrite: overwrite));
        }, TimeSpan.FromSeconds(60));

        Convert(false);
        Assert.That(() => Convert(false), Throws.TypeOf<RankFailedException>().With.Message.Contains("--overwrite"));
        Assert.That(() => Convert(true), Throws.Nothing);
        Assert.That(File.ReadAllBytes(Path.Combine(output, "latest")), Is.EqualTo("global_step0"u8.ToArray()));
    }
}
