using System.Diagnostics;
using System.Text.Json;
using Ckptmpi.Conversion.Execution;
using Ckptmpi.Conversion.Journal;
using Ckptmpi.Conversion.Manifests;

using Ckptmpi.Tests.Conversion.Journal;

namespace Ckptmpi.Tests.Conversion.Trust;

/// <summary>One job at a time per output directory: <c>ckptmpi.lock</c>, its holder, and recovery from a stale one.</summary>
public sealed class OutputLockTests : TrustFixture
{
    private static void PlantLock(string output, string host, int pid, string? job = "4242.pbs01")
    {
        Directory.CreateDirectory(output);
        var holder = new OutputLock.Holder(host, pid, job, new DateTime(2026, 12, 1, 8, 0, 0, DateTimeKind.Utc), "feedface", ["ckptmpi", "convert"]);
        File.WriteAllText(Path.Combine(output, OutputLock.FileName), JsonSerializer.Serialize(holder));
    }

    [Test]
    public void A_second_job_on_the_same_output_is_refused_with_the_holder_named()
    {
        string output = Path.Combine(Dir, "out");
        using Process alive = Process.Start("sleep", "60");
        try
        {
            PlantLock(output, Environment.MachineName, alive.Id);
            foreach (var request in new[] { HfToHf(output), HfToHf(output, overwrite: true), HfToHf(output, resume: true) })
            {
                string? message = RunInProcess(request);
                Assert.That(message, Does.Contain("another conversion is writing here").And.Contain($"pid {alive.Id}").And.Contain("job 4242.pbs01"));
            }
            ProcessResult r = RunProgram("convert", "--from", "hf", "--to", "hf", "--input", Model, "--output", output, "--overwrite");
            Assert.That(r.ExitCode, Is.EqualTo(5), r.ToString());
            Assert.That(r.Stderr, Does.Contain("remove").And.Contain(OutputLock.FileName));
            Assert.That(FilesUnder(output), Is.EqualTo(new[] { OutputLock.FileName }), "nothing written");
        }
        finally { alive.Kill(); }
    }

    [Test]
    public void A_lock_held_on_another_host_cannot_be_proven_stale_and_says_how_to_recover()
    {
        string output = Path.Combine(Dir, "out");
        PlantLock(output, "x3006c0s13b0n0", 12345);
        string? message = RunInProcess(HfToHf(output, resume: true));
        Assert.That(message, Does.Contain("x3006c0s13b0n0").And.Contain("squeue/qstat").And.Contain("--resume"));
    }

    [Test]
    public void A_stale_lock_of_a_dead_process_is_taken_over_by_overwrite_or_resume_but_not_by_a_plain_run()
    {
        string output = Path.Combine(Dir, "out");
        using Process gone = Process.Start("true");
        gone.WaitForExit();
        PlantLock(output, Environment.MachineName, gone.Id, job: null);

        string? plain = RunInProcess(HfToHf(output));
        Assert.That(plain, Does.Contain("interrupted conversion").And.Contain("--resume"));

        Assert.That(RunInProcess(HfToHf(output, overwrite: true)), Is.Null);
        Assert.That(File.Exists(Path.Combine(output, OutputLock.FileName)), Is.False, "released at the end");
        Assert.That(File.Exists(Path.Combine(output, Manifest.FileName)));
    }

    [Test]
    public void The_lock_is_released_after_a_clean_failure()
    {
        string output = Path.Combine(Dir, "out");
        File.Delete(Directory.GetFiles(Model, "model-00002-*").Single());
        Assert.That(RunInProcess(HfToHf(output)), Does.Contain("model-00002"));
        Assert.That(File.Exists(Path.Combine(output, OutputLock.FileName)), Is.False);
    }

    [Test]
    public void A_crashed_run_leaves_its_lock_and_resume_finishes_the_job()
    {
        string output = Path.Combine(Dir, "out");
        string? crash = RunInProcess(HfToHf(output), faults: new InjectedFaults { KillAfterPieces = 3 });
        Assert.That(crash, Is.Not.Null);
        Assert.That(File.Exists(Path.Combine(output, OutputLock.FileName)), "a killed job leaves its lock");
        Assert.That(RunInProcess(HfToHf(output)), Does.Contain("interrupted conversion"));
        Assert.That(RunInProcess(HfToHf(output, resume: true)), Is.Null);
        Assert.That(File.Exists(Path.Combine(output, OutputLock.FileName)), Is.False);
        Assert.That(RunProgram("verify", output).ExitCode, Is.EqualTo(0));
    }
}
