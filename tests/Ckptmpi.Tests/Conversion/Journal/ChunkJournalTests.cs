using Ckptmpi.Formats.Safetensors;
using Ckptmpi.Conversion;
using Ckptmpi.Conversion.Demo;
using Ckptmpi.Conversion.Execution;
using Ckptmpi.Conversion.Journal;
using Ckptmpi.Conversion.Manifests;
using Ckptmpi.Conversion.Planning;
using Ckptmpi.Errors;
using Ckptmpi.Parallel;
using Ckptmpi.Tensors;

namespace Ckptmpi.Tests.Conversion.Journal;

/// <summary>
/// <c>--resume</c> in process (ranks as threads): a rank "killed" after K pieces (an injected crash that leaves the
/// temporary files and journals as SIGKILL would), then the same plan resumed, gives the same bytes as a clean run,
/// and reuses exactly the pieces the journal proves.
/// </summary>
public sealed class ChunkJournalTests
{
    private string _dir = null!;
    private string _model = null!;

    [SetUp]
    public void SetUp()
    {
        _dir = TestPaths.NewTempDir();
        _model = Path.Combine(_dir, "model");
        new DemoModel { HiddenSize = 64, IntermediateSize = 172, Layers = 2, VocabSize = 500, Heads = 4, KvHeads = 2, MaxShardBytes = 200_000 }.Write(_model);
    }

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    private ConvertRequest Request(string output, IoMode io = IoMode.Direct) => new()
    {
        From = "hf", To = "hf", Input = _model, Output = output, DType = DType.F32, FormatOptions = [new HfOptions { MaxShardSize = 150_000 }], MaxBuffer = 64 << 10, Io = io,
    };

    /// <summary>The input identities the journal records, as ConversionJob passes them.</summary>
    private static IReadOnlyList<InputFileFact> InputsOf(ConvertRequest request) => ConversionJob.ReadInputs(request).Facts;

    private static Plan PlanFor(ConvertRequest request, int ranks)
    {
        JobInputs inputs = ConversionJob.ReadInputs(request);
        return ConversionJob.BuildPlan(inputs, request, ranks);
    }

    private static (List<OutputChecksum> Files, ChunkJournal[] Journals) Execute(Plan plan, ConvertRequest request, int ranks, bool resume)
    {
        var journals = Enumerable.Range(0, ranks).Select(_ => new ChunkJournal(request.Output, resume, overwrite: false, InputsOf(request))).ToArray();
        ExecutionResult[] results = ThreadCommunicator.Run(ranks, comm =>
            Executor.Run(comm, plan, request.Input, request.Output, new ExecutionOptions(Io: request.Io) { Hooks = journals[comm.Rank] }), TimeSpan.FromSeconds(60));
        foreach (ChunkJournal j in journals) j.Dispose();
        return (results[0].Files.ToList(), journals);
    }

    private static string[] Crash(Plan plan, ConvertRequest request, int ranks, InjectedFaults faults)
    {
        var journals = Enumerable.Range(0, ranks).Select(_ => new ChunkJournal(request.Output, resume: false, overwrite: false, InputsOf(request))).ToArray();
        string[] messages = ThreadCommunicator.Run(ranks, comm =>
        {
            var hooks = new FaultInjectingHooks(journals[comm.Rank], faults);
            try { Executor.Run(comm, plan, request.Input, request.Output, new ExecutionOptions(Io: request.Io) { Hooks = hooks }); return "no error"; }
            catch (RankFailedException e) { return e.Message; }
        }, TimeSpan.FromSeconds(60));
        foreach (ChunkJournal j in journals) j.Dispose();
        return messages;
    }

    private static int JournaledPieces(string output) =>
        Directory.GetFiles(JournalPaths.Directory(output), "rank-*.jsonl").Sum(f => File.ReadLines(f).Count());

    [TestCase(2, 0, false, IoMode.Direct)]
    [TestCase(2, 3, false, IoMode.Direct)]
    [TestCase(3, 1, true, IoMode.Direct)]
    [TestCase(4, 2, false, IoMode.Aggregate)]
    [TestCase(3, 2, true, IoMode.Aggregate)]
    public void A_run_killed_after_K_pieces_and_resumed_is_byte_identical_to_an_uninterrupted_run(int ranks, int pieces, bool unjournaled, IoMode io)
    {
        ConvertRequest clean = Request(Path.Combine(_dir, "clean"), io);
        Plan plan = PlanFor(clean, ranks);
        List<OutputChecksum> reference = Execute(plan, clean, ranks, resume: false).Files;
        Assert.That(plan.Ranks[1].Items.Sum(i => i.Chunks.Count), Is.GreaterThan(pieces + 1), "the victim rank has more pieces than it is killed after");

        ConvertRequest run = Request(Path.Combine(_dir, "resumed"), io);
        string[] messages = Crash(plan, run, ranks, new InjectedFaults { KillAfterPieces = pieces, KillRank = 1, KillUnjournaled = unjournaled });
        Assert.That(messages.Distinct().Single(), Does.Contain("injected kill"));
        Assert.That(Directory.GetFiles(run.Output, "*.tmp", SearchOption.AllDirectories), Is.Not.Empty, "a crash leaves temporary files");
        int journaled = JournaledPieces(run.Output);

        var (files, journals) = Execute(plan, run, ranks, resume: true);
        Assert.That(files, Is.EqualTo(reference));
        Assert.That(journals.Sum(j => j.ReusedPieces), Is.EqualTo(journaled), "every journaled piece is proven and reused");
        Assert.That(journals.Sum(j => j.ReusedPieces + j.WrittenPieces), Is.EqualTo(plan.Ranks.Sum(r => r.Items.Sum(i => i.Chunks.Count))));
        foreach (OutputChecksum f in reference)
            Assert.That(File.ReadAllBytes(Path.Combine(run.Output, f.Path)), Is.EqualTo(File.ReadAllBytes(Path.Combine(clean.Output, f.Path))), f.Path);
    }

    [Test]
    public void A_journaled_piece_whose_bytes_changed_on_disk_is_not_trusted_but_rewritten()
    {
        const int ranks = 2;
        ConvertRequest clean = Request(Path.Combine(_dir, "clean"));
        Plan plan = PlanFor(clean, ranks);
        List<OutputChecksum> reference = Execute(plan, clean, ranks, resume: false).Files;

        ConvertRequest run = Request(Path.Combine(_dir, "resumed"));
        Crash(plan, run, ranks, new InjectedFaults { KillAfterPieces = 4, KillRank = 0 });
        int journaled = JournaledPieces(run.Output);
        // Flip one byte inside rank 0's first journaled piece.
        Chunk first = plan.Ranks[0].Items[0].Chunks[0];
        string tmp = Path.Combine(run.Output, plan.Files[first.File].RelativePath + ".tmp");
        using (var fs = new FileStream(tmp, FileMode.Open, FileAccess.ReadWrite))
        {
            fs.Position = first.Crcs[0].FileOffset + first.Crcs[0].Length / 2;
            int b = fs.ReadByte();
            fs.Position--;
            fs.WriteByte((byte)(b ^ 0x5A));
        }

        var (files, journals) = Execute(plan, run, ranks, resume: true);
        Assert.That(files, Is.EqualTo(reference));
        Assert.That(journals.Sum(j => j.ReusedPieces), Is.EqualTo(journaled - 1));
    }

    [Test]
    public void A_resumed_conversion_after_a_crash_during_the_commit_completes_and_removes_its_journal()
    {
        string output = Path.Combine(_dir, "out");
        ThreadCommunicator.Run(2, comm => ConversionJob.Run(comm, Request(Path.Combine(_dir, "clean"))), TimeSpan.FromSeconds(60));
        Manifest reference = Manifest.Read(Path.Combine(_dir, "clean"));

        ConvertRequest request = Request(output);
        Plan plan = PlanFor(request, 2);
        int last = plan.Ranks[0].Items.Sum(i => i.Chunks.Count) - 1;
        Crash(plan, request, 2, new InjectedFaults { KillAfterPieces = last, KillRank = 0 });
        // Pretend the commit had begun: one file already under its final name, and a stale index beside it.
        string[] temps = Directory.GetFiles(output, "*.tmp");
        Assert.That(temps, Is.Not.Empty);
        File.Move(temps[0], temps[0][..^4]);
        File.WriteAllText(Path.Combine(output, "model.safetensors.index.json"), "{}");

        ThreadCommunicator.Run(2, comm => ConversionJob.Run(comm, request with { Resume = true }), TimeSpan.FromSeconds(60));
        Assert.That(Manifest.Read(output).Outputs, Is.EqualTo(reference.Outputs));
        Assert.That(Directory.Exists(JournalPaths.Directory(output)), Is.False);
        Assert.That(Directory.GetFiles(output, "*.tmp"), Is.Empty);
    }

    [TestCase(0)]
    [TestCase(3)]
    public void A_run_killed_in_its_commit_after_N_renames_resumes_to_the_same_bytes(int renames)
    {
        const int ranks = 3;
        ConvertRequest clean = Request(Path.Combine(_dir, "clean"));
        Plan plan = PlanFor(clean, ranks);
        List<OutputChecksum> reference = Execute(plan, clean, ranks, resume: false).Files;

        ConvertRequest run = Request(Path.Combine(_dir, "resumed"));
        string[] messages = Crash(plan, run, ranks, new InjectedFaults { KillInCommitAfterRenames = renames });
        Assert.That(messages.Distinct().Single(), Does.Contain("dies in the commit"));
        Assert.That(reference.Where(f => File.Exists(Path.Combine(run.Output, f.Path))).Count(), Is.EqualTo(renames), "renamed before the kill");
        Assert.That(File.Exists(Path.Combine(run.Output, "model.safetensors.index.json")), Is.False, "the commit marker comes last");

        var (files, journals) = Execute(plan, run, ranks, resume: true);
        Assert.That(files, Is.EqualTo(reference));
        Assert.That(journals.Sum(j => j.WrittenPieces), Is.Zero, "every piece was proven, including those of renamed files");
    }

    [Test]
    public void Resume_refuses_the_journal_of_a_different_plan_and_names_both_plans()
    {
        string output = Path.Combine(_dir, "out");
        ConvertRequest request = Request(output);
        Crash(PlanFor(request, 2), request, 2, new InjectedFaults { KillAfterPieces = 2, KillRank = 1 });

        string[] messages = ThreadCommunicator.Run(2, comm =>
        {
            try { ConversionJob.Run(comm, request with { Resume = true, FormatOptions = [new HfOptions { MaxShardSize = 100_000 }] }); return "no error"; }
            catch (RankFailedException e) { return e.Message; }
        }, TimeSpan.FromSeconds(60));
        Assert.That(messages.Distinct().Single(), Does.Contain("plan.json").And.Contain("different").Or.Contain("this command plans"));
        Assert.That(File.Exists(Path.Combine(output, Manifest.FileName)), Is.False);
        Assert.That(Directory.Exists(JournalPaths.Directory(output)), Is.True, "the interrupted run's journal is kept for the right command");
    }

    [Test]
    public void A_run_without_resume_refuses_an_interrupted_output_and_overwrite_starts_again()
    {
        string output = Path.Combine(_dir, "out");
        ConvertRequest request = Request(output);
        Crash(PlanFor(request, 2), request, 2, new InjectedFaults { KillAfterPieces = 2, KillRank = 1 });

        var e = Assert.Throws<RankFailedException>(() => ThreadCommunicator.Run(1, comm => ConversionJob.Run(comm, request)));
        Assert.That(e!.Message, Does.Contain("--resume").And.Contain(output));
        ThreadCommunicator.Run(1, comm => ConversionJob.Run(comm, request with { Overwrite = true }));
        Assert.That(File.Exists(Path.Combine(output, Manifest.FileName)), Is.True);
        Assert.That(Directory.Exists(JournalPaths.Directory(output)), Is.False);
    }

    [Test]
    public void An_injected_full_disk_fails_every_rank_naming_the_file_and_leaves_no_journal_or_manifest()
    {
        string output = Path.Combine(_dir, "out");
        string[] messages = ThreadCommunicator.Run(3, comm =>
        {
            var faults = new InjectedFaults { FailWriteAfterBytes = 100_000, FailRank = 2 };
            try { ConversionJob.Run(comm, Request(output), journal => new FaultInjectingHooks(journal, faults)); return "no error"; }
            catch (RankFailedException e) { return $"{e.ExitCode}: {e.Message}"; }
        }, TimeSpan.FromSeconds(60));
        Assert.That(messages.Distinct().Single(), Does.Contain("rank 2 failed").And.Contain("No space left on device").And.Contain(".safetensors.tmp"));
        Assert.That(File.Exists(Path.Combine(output, Manifest.FileName)), Is.False);
        Assert.That(Directory.Exists(JournalPaths.Directory(output)), Is.False);
        Assert.That(Directory.GetFiles(output, "*", SearchOption.AllDirectories), Is.Empty);
    }

    [Test]
    public void Resume_on_a_complete_checkpoint_says_there_is_nothing_to_resume()
    {
        string output = Path.Combine(_dir, "out");
        ThreadCommunicator.Run(1, comm => ConversionJob.Run(comm, Request(output)));
        var e = Assert.Throws<RankFailedException>(() => ThreadCommunicator.Run(1, comm => ConversionJob.Run(comm, Request(output) with { Resume = true })));
        Assert.That(e!.Message, Does.Contain("nothing to resume"));
    }
}
