using Ckptmpi.Conversion.Execution;

namespace Ckptmpi.Tests.Conversion.Report;

/// <summary>Lustre striping of the output directory, with a stand-in <c>lfs</c> that records its arguments.</summary>
public sealed class StripingTests
{
    private string _dir = null!;

    [SetUp]
    public void SetUp() => _dir = TestPaths.NewTempDir();

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    private string StandInLfs(int exitCode = 0)
    {
        string lfs = Path.Combine(_dir, "lfs");
        File.WriteAllText(lfs, $"#!/bin/sh\necho \"$@\" >> '{_dir}/lfs.args'\n[ {exitCode} -eq 0 ] || echo 'setstripe: Operation not permitted' >&2\nexit {exitCode}\n");
        File.SetUnixFileMode(lfs, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return lfs;
    }

    private string[] Calls() => File.Exists(Path.Combine(_dir, "lfs.args")) ? File.ReadAllLines(Path.Combine(_dir, "lfs.args")) : [];

    [Test]
    public void On_Lustre_the_output_directory_is_striped_before_any_file_with_the_given_or_default_layout()
    {
        string lfs = StandInLfs();
        string output = Path.Combine(_dir, "out");
        Directory.CreateDirectory(output);
        Assert.That(Striping.Default.Apply(output, Striping.LustreMagic, lfs), Is.EqualTo("stripe count -1, stripe size 16M"));
        Assert.That(Striping.Parse("8", "4MiB").Apply(output, Striping.LustreMagic, lfs), Is.EqualTo("stripe count 8, stripe size 4096K"));
        Assert.That(Calls(), Is.EqualTo(new[] { $"setstripe -c -1 -S 16M {output}", $"setstripe -c 8 -S 4096K {output}" }));
    }

    [Test]
    public void Elsewhere_or_with_keep_lfs_is_never_called()
    {
        string lfs = StandInLfs();
        Assert.That(Striping.Default.Apply(_dir, 0xEF53, lfs), Is.Null, "ext4");
        Assert.That(Striping.Parse("keep", null).Apply(_dir, Striping.LustreMagic, lfs), Is.Null);
        Assert.That(Striping.Default.Apply(_dir, filesystemType: null, lfs), Is.Null, "this machine's /tmp is not Lustre");
        Assert.That(Calls(), Is.Empty);
        Assert.That(Striping.FilesystemType(_dir), Is.Not.Zero.And.Not.EqualTo(Striping.LustreMagic));
    }

    [Test]
    public void A_failing_or_missing_lfs_is_a_warning_and_the_report_says_the_layout_was_kept()
    {
        Assert.That(Striping.Default.Apply(_dir, Striping.LustreMagic, StandInLfs(exitCode: 1)), Does.Contain("failed").And.Contain("Operation not permitted"));
        Assert.That(Striping.Default.Apply(_dir, Striping.LustreMagic, Path.Combine(_dir, "no-such-lfs")), Does.Contain("lfs not found"));
    }

    [TestCase("0", null)]
    [TestCase("-2", null)]
    [TestCase("many", null)]
    [TestCase("4", "100k")]
    [TestCase("4", "8GiB")]
    public void Values_lfs_would_refuse_are_refused_up_front(string count, string? size) =>
        Assert.Throws<FormatException>(() => Striping.Parse(count, size));

    [Test]
    public void Convert_refuses_a_bad_stripe_count_as_a_usage_error()
    {
        ProcessResult r = TestPaths.RunCkptmpi(["convert", "--from", "hf", "--to", "hf", "--input", _dir, "--output", Path.Combine(_dir, "o"), "--stripe-count", "0"]);
        Assert.That(r.ExitCode, Is.EqualTo(2), r.ToString());
        Assert.That(r.Stderr, Does.Contain("--stripe-count"));
    }
}
