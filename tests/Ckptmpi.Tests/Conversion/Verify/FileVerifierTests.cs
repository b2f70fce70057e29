using Ckptmpi.Formats.Safetensors;
using Ckptmpi.Conversion;
using Ckptmpi.Conversion.Demo;
using Ckptmpi.Conversion.Manifests;
using Ckptmpi.Conversion.Verify;
using Ckptmpi.Errors;
using Ckptmpi.Parallel;
using Ckptmpi.Tensors;

namespace Ckptmpi.Tests.Conversion.Verify;

/// <summary><c>ckptmpi verify OUT_DIR</c>: every damage to a converted checkpoint is reported with the file's name, on every rank alike.</summary>
public sealed class FileVerifierTests
{
    private string _dir = null!;
    private string _output = null!;

    [OneTimeSetUp]
    public void Convert()
    {
        _dir = TestPaths.NewTempDir();
        string model = Path.Combine(_dir, "model");
        new DemoModel { HiddenSize = 64, IntermediateSize = 172, Layers = 2, VocabSize = 500, Heads = 4, KvHeads = 2, MaxShardBytes = 200_000 }.Write(model);
        _output = Path.Combine(_dir, "out");
        ThreadCommunicator.Run(2, comm => ConversionJob.Run(comm, new ConvertRequest { From = "hf", To = "hf", Input = model, Output = _output, DType = DType.F32, FormatOptions = [new HfOptions { MaxShardSize = 150_000 }] }), TimeSpan.FromSeconds(60));
    }

    [OneTimeTearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    /// <summary>A fresh copy of the converted checkpoint to damage.</summary>
    private string Copy()
    {
        string copy = Path.Combine(_dir, "copy-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(copy);
        foreach (string f in Directory.GetFiles(_output)) File.Copy(f, Path.Combine(copy, Path.GetFileName(f)));
        return copy;
    }

    private static List<VerifyProblem> Verify(string dir, int ranks, long rangeBytes = FileVerifier.RangeBytes)
    {
        FileVerifier.Result[] results = ThreadCommunicator.Run(ranks, comm => FileVerifier.Run(comm, dir, 4096, rangeBytes), TimeSpan.FromSeconds(60));
        foreach (FileVerifier.Result r in results.Skip(1)) Assert.That(r.Problems, Is.EqualTo(results[0].Problems), "every rank reports the same");
        return results[0].Problems.ToList();
    }

    [TestCase(1)]
    [TestCase(3)]
    [TestCase(4)]
    public void A_good_output_verifies_on_any_number_of_ranks_even_with_files_cut_into_ranges(int ranks)
    {
        Assert.That(Verify(_output, ranks), Is.Empty);
        Assert.That(Verify(_output, ranks, rangeBytes: 10_000), Is.Empty, "ranges of one file on several ranks combine to its CRC");
    }

    [Test]
    public void A_flipped_byte_a_truncation_a_deletion_and_an_added_file_are_each_reported_by_name()
    {
        string dir = Copy();
        var shards = Directory.GetFiles(dir, "model-*.safetensors").Order().ToArray();
        using (var f = new FileStream(shards[0], FileMode.Open)) { f.Position = f.Length / 2; int b = f.ReadByte(); f.Position--; f.WriteByte((byte)(b ^ 1)); }
        using (var f = new FileStream(shards[1], FileMode.Open)) f.SetLength(f.Length - 7);
        File.Delete(shards[2]);
        File.WriteAllText(Path.Combine(dir, "notes.txt"), "not part of the checkpoint");

        List<VerifyProblem> problems = Verify(dir, 3, rangeBytes: 20_000);
        Assert.That(problems.Select(p => (p.Kind, p.Subject)), Is.EquivalentTo(new[]
        {
            (VerifyProblemKind.Checksum, Path.GetFileName(shards[0])),
            (VerifyProblemKind.Size, Path.GetFileName(shards[1])),
            (VerifyProblemKind.Missing, Path.GetFileName(shards[2])),
            (VerifyProblemKind.Extra, "notes.txt"),
        }));
        Assert.That(problems.Single(p => p.Kind == VerifyProblemKind.Size).Detail, Does.Contain("truncated"));
        Assert.That(problems.Single(p => p.Kind == VerifyProblemKind.Checksum).ToString(), Does.Contain("crc32").And.Contain("manifest says"));
    }

    [Test]
    public void A_leftover_temporary_file_and_journal_are_reported_as_extra_with_the_reason()
    {
        string dir = Copy();
        File.WriteAllText(Path.Combine(dir, "model-00001-of-00009.safetensors.tmp"), "x");
        Directory.CreateDirectory(Path.Combine(dir, ".ckptmpi-journal"));
        File.WriteAllText(Path.Combine(dir, ".ckptmpi-journal", "rank-00000.jsonl"), "{}");
        List<VerifyProblem> problems = Verify(dir, 2);
        Assert.That(problems.Select(p => p.Kind), Is.All.EqualTo(VerifyProblemKind.Extra));
        Assert.That(problems.Select(p => p.Detail), Has.Some.Contains("temporary file").And.Some.Contains("journal"));
    }

    [Test]
    public void A_directory_without_a_manifest_fails_every_rank_naming_the_manifest()
    {
        string dir = Copy();
        File.Delete(Path.Combine(dir, Manifest.FileName));
        var e = Assert.Throws<RankFailedException>(() => ThreadCommunicator.Run(2, comm => FileVerifier.Run(comm, dir), TimeSpan.FromSeconds(60)));
        Assert.That(e!.Message, Does.Contain(Manifest.FileName).And.Contain(dir));
    }

    [Test]
    public void The_verify_command_exits_3_and_names_the_damaged_file()
    {
        string dir = Copy();
        string shard = Directory.GetFiles(dir, "model-*.safetensors").Order().First();
        using (var f = new FileStream(shard, FileMode.Open)) { f.Position = 100; f.WriteByte(0xEE); }
        ProcessResult good = TestPaths.RunCkptmpi(["verify", _output]);
        Assert.That(good.ExitCode, Is.EqualTo(0), good.ToString());
        Assert.That(good.Stdout, Does.Contain("all match").And.Contain("OK"));
        ProcessResult bad = TestPaths.RunCkptmpi(["verify", dir]);
        Assert.That(bad.ExitCode, Is.EqualTo(3), bad.ToString());
        Assert.That(bad.Stdout, Does.Contain(Path.GetFileName(shard)).And.Contain("FAILED"));
    }
}
