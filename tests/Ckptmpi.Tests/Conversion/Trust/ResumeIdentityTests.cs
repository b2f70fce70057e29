using Ckptmpi.Conversion;
using Ckptmpi.Conversion.Journal;
using Ckptmpi.Conversion.Manifests;
using Ckptmpi.Formats.Safetensors;

using Ckptmpi.Tests.Conversion.Journal;

namespace Ckptmpi.Tests.Conversion.Trust;

/// <summary>
/// <c>--resume</c> never vouches for output computed from other inputs: the journal records each input's identity
/// (size, mtime, header and sampled CRC-32) and a resume over changed inputs is refused, naming the file.
/// </summary>
public sealed class ResumeIdentityTests : TrustFixture
{
    private string Interrupted()
    {
        string output = Path.Combine(Dir, "out");
        string? crash = RunInProcess(HfToHf(output), faults: new InjectedFaults { KillAfterPieces = 3 });
        Assert.That(crash, Is.Not.Null);
        Assert.That(File.Exists(JournalPaths.PlanFile(output)));
        return output;
    }

    /// <summary>Rewrites one shard's tensor bytes with new values, keeping its size and header (a re-save of the same model).</summary>
    private string Resave(bool keepTime)
    {
        string shard = Directory.GetFiles(Model, "model-00001-*.safetensors").Single();
        DateTime time = File.GetLastWriteTimeUtc(shard);
        byte[] bytes = File.ReadAllBytes(shard);
        long dataStart = 8 + BitConverter.ToInt64(bytes, 0);
        for (long i = dataStart; i < bytes.Length; i += 2) bytes[i] ^= 0x01; // low mantissa bits: still finite values
        File.WriteAllBytes(shard, bytes);
        if (keepTime) File.SetLastWriteTimeUtc(shard, time);
        return shard;
    }

    [Test]
    public void Resume_over_re_saved_inputs_is_refused_naming_the_changed_file()
    {
        string output = Interrupted();
        string shard = Resave(keepTime: false);
        string? message = RunInProcess(HfToHf(output, resume: true));
        Assert.That(message, Does.Contain(Path.GetFileName(shard)).And.Contain("modified").And.Contain("--overwrite"));
        Assert.That(File.Exists(Path.Combine(output, Manifest.FileName)), Is.False);
    }

    [Test]
    public void Resume_over_inputs_whose_values_changed_but_not_their_time_is_refused()
    {
        string output = Interrupted();
        string shard = Resave(keepTime: true);
        string? message = RunInProcess(HfToHf(output, resume: true));
        Assert.That(message, Does.Contain(Path.GetFileName(shard)).And.Contain("different header"));
    }

    [Test]
    public void Values_changed_past_the_first_MiB_with_the_time_kept_are_caught_by_the_samples()
    {
        // One 4 MB shard: the header checksum covers its first 1 MiB only.
        Directory.Delete(Model, recursive: true);
        new Ckptmpi.Conversion.Demo.DemoModel { HiddenSize = 256, IntermediateSize = 688, Layers = 2, VocabSize = 4096, MaxShardBytes = 1L << 30 }.Write(Model);
        string output = Interrupted();
        string shard = Directory.GetFiles(Model, "*.safetensors").Single();
        DateTime time = File.GetLastWriteTimeUtc(shard);
        byte[] bytes = File.ReadAllBytes(shard);
        Assert.That(bytes.Length, Is.GreaterThan(2 * InputFileFact.HeaderBytes));
        for (long i = InputFileFact.HeaderBytes; i < bytes.Length; i += 2) bytes[i] ^= 0x01;
        File.WriteAllBytes(shard, bytes);
        File.SetLastWriteTimeUtc(shard, time);
        Assert.That(RunInProcess(HfToHf(output, resume: true)), Does.Contain(Path.GetFileName(shard)).And.Contain("different contents"));
    }

    [Test]
    public void Resume_with_an_input_added_or_removed_is_refused()
    {
        string output = Interrupted();
        // Without its index the shards are still a checkpoint (read by their headers), but not the inputs that run read.
        File.Delete(Path.Combine(Model, "model.safetensors.index.json"));
        Assert.That(RunInProcess(HfToHf(output, resume: true)), Does.Contain("model.safetensors.index.json").And.Contain("not one now"));
    }

    [Test]
    public void A_journal_without_its_plan_is_refused()
    {
        string output = Interrupted();
        File.Delete(JournalPaths.PlanFile(output));
        Assert.That(RunInProcess(HfToHf(output, resume: true)), Does.Contain("plan.json").And.Contain("--overwrite"));
    }

    [Test]
    public void Resume_over_unchanged_inputs_finishes_and_matches_an_uninterrupted_run()
    {
        string output = Interrupted();
        Assert.That(RunInProcess(HfToHf(output, resume: true)), Is.Null);
        string clean = Path.Combine(Dir, "clean");
        Assert.That(RunInProcess(HfToHf(clean)), Is.Null);
        Assert.That(Manifest.Read(output).Outputs.Select(o => (o.Path, o.Checksum)), Is.EqualTo(Manifest.Read(clean).Outputs.Select(o => (o.Path, o.Checksum))));
        Assert.That(SafetensorsCheckpoint.Open(output).Tensors, Has.Count.GreaterThan(0));
    }
}
