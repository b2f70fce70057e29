using Ckptmpi.Conversion;
using Ckptmpi.Conversion.Manifests;
using Ckptmpi.Errors;
using Ckptmpi.Formats.MaxText;
using Ckptmpi.Parallel;
using Ckptmpi.Tests.Conversion.Journal;
using Ckptmpi.Tests.Formats.MaxText;

namespace Ckptmpi.Tests.Conversion.Formats;

/// <summary>
/// HF -> MaxText as one job on several in-process ranks: the same bytes whatever the rank count, an existing Orbax
/// checkpoint refused, and <c>_METADATA</c> (Orbax's sign of a complete checkpoint) only once every array is written.
/// </summary>
public sealed class MaxTextConversionTests
{
    private string _dir = null!;

    [SetUp]
    public void SetUp() => _dir = TestPaths.NewTempDir();

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    private static ConvertRequest Request(string output, bool int8) => new()
    {
        From = "hf", To = "maxtext", Input = Path.Combine(TestPaths.Fixtures, "maxtext", "hf", "l3"), Output = output, MaxBuffer = 64 << 10,
        FormatOptions = [new MaxTextOptions { Model = "llama3.1-8b", Int8 = int8, ChunkBytes = 2048 }], NoReport = true,
    };

    [TestCase(false), TestCase(true)]
    public void Output_is_byte_identical_for_1_2_and_4_ranks_and_equals_the_reference(bool int8)
    {
        var outputs = new List<(string Dir, List<(string, long, string)> Files)>();
        foreach (int ranks in new[] { 1, 2, 4 })
        {
            string output = Path.Combine(_dir, $"out-{ranks}");
            ThreadCommunicator.Run(ranks, comm => ConversionJob.Run(comm, Request(output, int8)), TimeSpan.FromSeconds(120));
            outputs.Add((output, Manifest.Read(output).Outputs.Select(o => (o.Path, o.Size, o.Checksum)).ToList()));
        }
        Assert.That(outputs[0].Files, Has.Count.GreaterThan(100), "many chunk files to spread over the ranks");
        foreach (var o in outputs.Skip(1)) Assert.That(o.Files, Is.EqualTo(outputs[0].Files));
        foreach (var (dir, files) in outputs)
        foreach (var (path, _, crc) in files)
            Assert.That(Ckptmpi.Tensors.Checksums.Crc32.Hash(File.ReadAllBytes(Path.Combine(dir, path))).ToString("x8"), Is.EqualTo(crc), path);
        MaxTextFixtureTests.Check(outputs[^1].Dir, int8 ? "l3_llama3.1-8b_unscanned_int8.npz" : "l3_llama3.1-8b_scanned.npz");
    }

    [Test]
    public void An_output_folder_holding_an_Orbax_checkpoint_is_refused_and_left_alone()
    {
        string output = Path.Combine(_dir, "orbax");
        Directory.CreateDirectory(Path.Combine(output, "params.params.token_embedder.embedding"));
        File.WriteAllText(Path.Combine(output, "_METADATA"), """{"tree_metadata": {}}""");
        File.WriteAllText(Path.Combine(output, "params.params.token_embedder.embedding", ".zarray"), "{}");
        string[] messages = ThreadCommunicator.Run(2, comm =>
        {
            try { ConversionJob.Run(comm, Request(output, int8: false)); return "no error"; }
            catch (RankFailedException e) { return e.Message; }
        }, TimeSpan.FromSeconds(60));
        Assert.That(messages.Distinct().Single(), Does.Contain("already holds a checkpoint").And.Contain("_METADATA"));
        Assert.That(File.ReadAllText(Path.Combine(output, "_METADATA")), Is.EqualTo("""{"tree_metadata": {}}"""));
        Assert.That(Directory.GetFiles(output, "*", SearchOption.AllDirectories), Has.Length.EqualTo(2));
    }

    [Test]
    public void Overwrite_refuses_an_OCDBT_checkpoint_whose_manifest_would_survive_beside_the_new_arrays()
    {
        string output = Path.Combine(_dir, "ocdbt");
        Directory.CreateDirectory(Path.Combine(output, "d"));
        File.WriteAllText(Path.Combine(output, "_METADATA"), """{"tree_metadata": {}, "use_ocdbt": true}""");
        File.WriteAllBytes(Path.Combine(output, "manifest.ocdbt"), [1, 2, 3]);
        var e = Assert.Throws<RankFailedException>(() => ThreadCommunicator.Run(1, comm => ConversionJob.Run(comm, Request(output, int8: false) with { Overwrite = true })));
        Assert.That(e!.Message, Does.Contain("manifest.ocdbt").And.Contain("did not write"));
        Assert.That(File.Exists(Path.Combine(output, "manifest.ocdbt")), Is.True);
    }

    [Test]
    public void A_rank_failing_mid_way_leaves_no_METADATA_and_no_manifest()
    {
        string output = Path.Combine(_dir, "out");
        string[] messages = ThreadCommunicator.Run(3, comm =>
        {
            var faults = new InjectedFaults { FailWriteAfterBytes = 20_000, FailRank = 1 };
            try { ConversionJob.Run(comm, Request(output, int8: true), journal => new FaultInjectingHooks(journal, faults)); return "no error"; }
            catch (RankFailedException e) { return e.Message; }
        }, TimeSpan.FromSeconds(60));
        Assert.That(messages.Distinct().Single(), Does.Contain("rank 1 failed").And.Contain("No space left on device"));
        Assert.That(File.Exists(Path.Combine(output, "_METADATA")), Is.False);
        Assert.That(File.Exists(Path.Combine(output, Manifest.FileName)), Is.False);
        Assert.That(Directory.GetFiles(output, "*", SearchOption.AllDirectories), Is.Empty);
    }

    /// <remarks>int8: a pass writes a values chunk file and its scales file, journaled per file and reused only together.</remarks>
    [TestCase(false), TestCase(true)]
    public void A_rank_killed_mid_way_leaves_no_METADATA_and_resume_completes_the_same_checkpoint(bool int8)
    {
        string output = Path.Combine(_dir, "out");
        Assert.Throws<RankFailedException>(() => ThreadCommunicator.Run(2, comm =>
        {
            var faults = new InjectedFaults { KillAfterPieces = 5, KillRank = 1 };
            ConversionJob.Run(comm, Request(output, int8), journal => new FaultInjectingHooks(journal, faults));
        }, TimeSpan.FromSeconds(60)));
        Assert.That(File.Exists(Path.Combine(output, "_METADATA")), Is.False);
        ThreadCommunicator.Run(2, comm => ConversionJob.Run(comm, Request(output, int8) with { Resume = true }), TimeSpan.FromSeconds(60));
        Assert.That(File.Exists(Path.Combine(output, "_METADATA")), Is.True);
        MaxTextFixtureTests.Check(output, int8 ? "l3_llama3.1-8b_unscanned_int8.npz" : "l3_llama3.1-8b_scanned.npz");
        foreach (var o in Manifest.Read(output).Outputs)
            Assert.That(Ckptmpi.Tensors.Checksums.Crc32.Hash(File.ReadAllBytes(Path.Combine(output, o.Path))).ToString("x8"), Is.EqualTo(o.Checksum), o.Path);
    }

    [Test]
    public void A_quantized_chunk_larger_than_the_buffer_is_an_error_naming_the_file_and_the_size_needed()
    {
        string model = Path.Combine(_dir, "model");
        new Ckptmpi.Conversion.Demo.DemoModel { HiddenSize = 256, IntermediateSize = 1024, Layers = 1, Heads = 4, KvHeads = 2, VocabSize = 512 }.Write(model);
        var request = new ConvertRequest
        {
            From = "hf", To = "maxtext", Input = model, Output = Path.Combine(_dir, "out"), MaxBuffer = 256 << 10, NoReport = true,
            FormatOptions = [new MaxTextOptions { Model = "llama3-8b", Int8 = true }],
        };
        string[] messages = ThreadCommunicator.Run(2, comm =>
        {
            try { ConversionJob.Run(comm, request); return "no error"; }
            catch (RankFailedException e) { return e.Message; }
        }, TimeSpan.FromSeconds(60));
        // wi_0 [256, 1024] is one 32 MiB-limited chunk: 1 MiB of fp32 to quantize whole channels, more than 256 KiB.
        Assert.That(messages.Distinct().Single(), Does.Contain("mlp.wi_0.AqtDotGeneral_0.qrhs.frozen.qvalue/0.0").And.Contain("needs a buffer of").And.Contain("--max-buffer"));
        Assert.That(File.Exists(Path.Combine(request.Output, "_METADATA")), Is.False);
        request = request with { FormatOptions = [new MaxTextOptions { Model = "llama3-8b", Int8 = true, ChunkBytes = 64 << 10 }] };
        ThreadCommunicator.Run(2, comm => ConversionJob.Run(comm, request), TimeSpan.FromSeconds(60));
        Assert.That(File.Exists(Path.Combine(request.Output, "_METADATA")), Is.True, "smaller chunk files fit the same buffer");
    }
}
