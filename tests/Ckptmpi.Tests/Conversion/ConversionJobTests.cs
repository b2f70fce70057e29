using Ckptmpi.Conversion;
using Ckptmpi.Conversion.Demo;
using Ckptmpi.Conversion.Execution;
using Ckptmpi.Conversion.Manifests;
using Ckptmpi.Conversion.Verification;
using Ckptmpi.Errors;
using Ckptmpi.Formats.Safetensors;
using Ckptmpi.Parallel;
using Ckptmpi.Tensors;

namespace Ckptmpi.Tests.Conversion;

public sealed class ConversionJobTests
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
        From = "hf", To = "hf", Input = _model, Output = output, DType = DType.F32, MaxShardSize = 150_000, MaxBuffer = 64 << 10, Io = io,
    };

    [Test]
    public void Output_is_byte_identical_for_1_2_and_4_ranks_and_both_io_modes()
    {
        var manifests = new List<Manifest>();
        foreach (var (ranks, io) in new[] { (1, IoMode.Direct), (2, IoMode.Direct), (4, IoMode.Direct), (3, IoMode.Aggregate), (4, IoMode.Aggregate) })
        {
            string output = Path.Combine(_dir, $"out-{ranks}-{io}");
            ThreadCommunicator.Run(ranks, comm => ConversionJob.Run(comm, Request(output, io)), TimeSpan.FromSeconds(60));
            manifests.Add(Manifest.Read(output));
        }
        var reference = manifests[0].Outputs.Select(o => (o.Path, o.Size, o.Checksum)).ToList();
        Assert.That(reference, Has.Count.GreaterThan(3), "several shards, an index and config.json");
        foreach (Manifest m in manifests.Skip(1))
            Assert.That(m.Outputs.Select(o => (o.Path, o.Size, o.Checksum)), Is.EqualTo(reference));
    }

    [Test]
    public void The_dry_run_plans_exactly_what_the_real_run_executes_and_writes_nothing()
    {
        string output = Path.Combine(_dir, "out");
        ConversionJob.Outcome[] dry = ThreadCommunicator.Run(2, comm => ConversionJob.Run(comm, Request(output) with { DryRun = true }), TimeSpan.FromSeconds(60));
        Assert.That(Directory.Exists(output), Is.False);
        ThreadCommunicator.Run(2, comm => ConversionJob.Run(comm, Request(output)), TimeSpan.FromSeconds(60));
        Manifest manifest = Manifest.Read(output);
        Assert.That(manifest.Plan.Hash, Is.EqualTo(dry[0].Plan.Hash));
        Assert.That(manifest.Plan.PerRank, Is.EqualTo(dry[0].Plan.PerRank));
    }

    [Test]
    public void Every_output_file_matches_its_manifest_checksum_and_the_values_are_the_source_cast_to_fp32()
    {
        string output = Path.Combine(_dir, "out");
        ThreadCommunicator.Run(3, comm => ConversionJob.Run(comm, Request(output)), TimeSpan.FromSeconds(60));
        Manifest manifest = Manifest.Read(output);
        Assert.That(manifest.ChecksumAlgorithm, Is.EqualTo("crc32"));
        foreach (OutputChecksum o in manifest.Outputs)
            Assert.That(Ckptmpi.Tensors.Checksums.Crc32.Hash(File.ReadAllBytes(Path.Combine(output, o.Path))).ToString("x8"), Is.EqualTo(o.Checksum), o.Path);
        Assert.That(manifest.Inputs.Select(i => Path.GetFileName(i.Path)), Does.Contain("config.json"));
        var mismatches = CatalogComparer.Compare(SafetensorsCheckpoint.Open(_model), SafetensorsCheckpoint.Open(output), _ => DType.F32);
        Assert.That(mismatches, Is.Empty);
    }

    [Test]
    public void A_missing_shard_fails_every_rank_with_the_same_message_and_writes_nothing()
    {
        string shard = Directory.GetFiles(_model, "model-00002-*.safetensors").Single();
        File.Delete(shard);
        string output = Path.Combine(_dir, "out");
        string[] messages = ThreadCommunicator.Run(3, comm =>
        {
            try { ConversionJob.Run(comm, Request(output)); return "no error"; }
            catch (RankFailedException e) { return e.Message; }
        }, TimeSpan.FromSeconds(60));
        Assert.That(messages.Distinct().Count(), Is.EqualTo(1), string.Join("\n", messages));
        Assert.That(messages[0], Does.Contain("model-00002"));
        Assert.That(Directory.Exists(output), Is.False);
    }
}
