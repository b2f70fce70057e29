using Ckptmpi.Conversion.Execution;
using Ckptmpi.Conversion.Manifests;

using Ckptmpi.Formats.DeepSpeed;

using Ckptmpi.Formats.Safetensors;

namespace Ckptmpi.Tests.Conversion.Trust;

/// <summary>
/// The output directory is ours alone: links planted in it are never written through, <c>--overwrite</c> deletes only
/// our own regular files inside it, and a checkpoint some other tool wrote is refused rather than half replaced.
/// </summary>
public sealed class OutputDirectoryTrustTests : TrustFixture
{
    [Test]
    public void A_link_planted_under_a_temporary_name_is_never_written_through()
    {
        string output = Path.Combine(Dir, "out");
        Directory.CreateDirectory(output);
        string victim = Path.Combine(Dir, "victim.txt");
        File.WriteAllText(victim, "precious");
        // Every file the conversion writes goes through "<name>.tmp": plant a link under each of those names.
        string probe = Path.Combine(Dir, "probe");
        Assert.That(RunInProcess(HfToHf(probe)), Is.Null);
        foreach (string name in FilesUnder(probe))
            File.CreateSymbolicLink(Path.Combine(output, name + OutputFiles.TempSuffix), victim);

        Assert.That(RunInProcess(HfToHf(output)), Is.Null);
        Assert.That(File.ReadAllText(victim), Is.EqualTo("precious"));
        Assert.That(RunProgram("verify", output).ExitCode, Is.EqualTo(0));
    }

    [Test]
    public void A_folder_link_inside_the_output_is_refused_and_nothing_lands_outside()
    {
        string output = Path.Combine(Dir, "out"), elsewhere = Path.Combine(Dir, "elsewhere");
        Directory.CreateDirectory(output);
        Directory.CreateDirectory(elsewhere);
        Directory.CreateSymbolicLink(Path.Combine(output, "global_step0"), elsewhere);
        var request = HfToHf(output) with { To = "zero", FormatOptions = [TrainingSettingsForTests.Zero(3, 2)], DType = null };

        string? message = RunInProcess(request, ranks: 3);
        Assert.That(message, Does.Contain("global_step0").And.Contain("symbolic link"));
        Assert.That(FilesUnder(elsewhere), Is.Empty);
        Assert.That(File.Exists(Path.Combine(output, Manifest.FileName)), Is.False);

        ProcessResult r = RunProgram(["convert", "--from", "hf", "--to", "zero", "--zero-stage", "3", "--dp-size", "2", "--input", Model, "--output", output, .. TrainingSettingsForTests.Args]);
        Assert.That(r.ExitCode, Is.EqualTo(5), r.ToString());
        Assert.That(r.Stderr, Does.Contain("global_step0"));
        Assert.That(FilesUnder(elsewhere), Is.Empty);
    }

    [Test]
    public void Overwrite_never_deletes_through_a_link_named_by_the_old_manifest()
    {
        string output = Path.Combine(Dir, "out"), outside = Path.Combine(Dir, "outside");
        Assert.That(RunInProcess(HfToHf(output)), Is.Null);
        Directory.CreateDirectory(outside);
        File.WriteAllText(Path.Combine(outside, "victim.bin"), "precious");
        Directory.CreateSymbolicLink(Path.Combine(output, "sub"), outside);
        // A manifest naming sub/victim.bin as one of our outputs (hand-edited or hostile).
        string manifestPath = Path.Combine(output, Manifest.FileName);
        Manifest m = Manifest.Read(output);
        (m with { Outputs = [.. m.Outputs, m.Outputs[0] with { Path = "sub/victim.bin" }] }).Write(output);
        Assert.That(File.Exists(manifestPath));

        Assert.That(RunInProcess(HfToHf(output, overwrite: true)), Is.Null);
        Assert.That(File.ReadAllText(Path.Combine(outside, "victim.bin")), Is.EqualTo("precious"));
    }

    [Test]
    public void Overwrite_onto_a_checkpoint_ckptmpi_did_not_write_refuses_and_names_the_files_a_loader_would_read()
    {
        // Another tool's sharded checkpoint (no manifest) in place; the new one is a single file with another name set.
        string output = Path.Combine(Dir, "out");
        Directory.CreateDirectory(output);
        foreach (string f in Directory.GetFiles(Model)) File.Copy(f, Path.Combine(output, Path.GetFileName(f)));
        string[] before = FilesUnder(output);
        var request = HfToHf(output, overwrite: true) with { FormatOptions = [new HfOptions { MaxShardSize = 1L << 40 }] };

        string? message = RunInProcess(request);
        Assert.That(message, Does.Contain("model.safetensors.index.json").And.Contain("did not write them"));
        Assert.That(FilesUnder(output), Is.EqualTo(before));

        // The same model written by ckptmpi (a manifest) is replaced cleanly: no stale shard or index is left.
        Directory.Delete(output, recursive: true);
        Assert.That(RunInProcess(HfToHf(output)), Is.Null);
        Assert.That(RunInProcess(request), Is.Null);
        Assert.That(FilesUnder(output), Is.EquivalentTo(Manifest.Read(output).Outputs.Select(o => o.Path).Concat([Manifest.FileName, Ckptmpi.Conversion.Report.ReportFiles.HtmlName, Ckptmpi.Conversion.Report.ReportFiles.JsonName])));
        Assert.That(FilesUnder(output), Has.None.Contains("index.json"));
    }

    [Test]
    public void Resolve_refuses_any_link_below_the_output_directory_but_not_the_directory_itself()
    {
        string real = Path.Combine(Dir, "real");
        Directory.CreateDirectory(Path.Combine(real, "tag"));
        string linked = Path.Combine(Dir, "linked");
        Directory.CreateSymbolicLink(linked, real);
        Assert.That(OutputFiles.Resolve(linked, "tag/file.pt"), Is.EqualTo(Path.Combine(linked, "tag", "file.pt")));
        File.CreateSymbolicLink(Path.Combine(real, "tag", "file.pt"), "/etc/passwd");
        Assert.Throws<Ckptmpi.Errors.OutputExistsException>(() => OutputFiles.Resolve(linked, "tag/file.pt"));
        Assert.Throws<InvalidOperationException>(() => OutputFiles.Resolve(linked, "../x"));
    }
}
