using Ckptmpi.Cli;
using Ckptmpi.Cli.Commands;
using Ckptmpi.Conversion;
using Ckptmpi.Conversion.Manifests;
using Ckptmpi.Errors;
using Ckptmpi.Parallel;

namespace Ckptmpi.Tests.Conversion.BadInput;

/// <summary>
/// The committed bad-input corpus (tests/bad-inputs/cases.tsv) in process, on 1, 2 and 3 ranks as threads: every rank
/// fails with the same message naming the file and the reason and the table's exit code, no manifest or commit marker
/// appears, and the input is untouched. tests/e2e/trust-bad-inputs.sh runs the same table through the real program
/// under mpiexec.
/// </summary>
public sealed class BadInputCorpusTests
{
    public sealed record Case(string Name, string[] Arguments, int Exit, string File, string Reason)
    {
        public override string ToString() => Name;
    }

    private static string Corpus => Path.Combine(TestPaths.RepoRoot, "tests", "bad-inputs");

    public static IEnumerable<Case> Cases() =>
        File.ReadLines(Path.Combine(Corpus, "cases.tsv"))
            .Where(l => l.Length > 0 && !l.StartsWith('#') && !l.StartsWith("case\t", StringComparison.Ordinal))
            .Select(l => l.Split('\t'))
            .Select(c => new Case(c[0], c[1].Split(' '), int.Parse(c[2]), c[3], c[4]));

    [Test]
    public void The_corpus_holds_every_kind_of_broken_input_the_issue_lists()
    {
        string[] names = Cases().Select(c => c.Name).ToArray();
        Assert.That(names, Has.Length.GreaterThanOrEqualTo(13));
        foreach (string kind in new[] { "truncated-shard", "index-missing-file", "tensor-in-two-shards", "shapes-contradict-config", "missing-rank-file",
                                        "extra-rank-file", "mixed-tags", "latest-names-missing-tag", "path-traversal", "symlink-escape" })
            Assert.That(names, Has.Some.Contains(kind));
        foreach (string name in names) Assert.That(Directory.Exists(Path.Combine(Corpus, "cases", name)), name);
    }

    [TestCaseSource(nameof(Cases))]
    public void Each_broken_input_fails_every_rank_naming_the_file_and_the_reason_and_writes_nothing(Case c)
    {
        CollectivePhase.ExitCodeOf = ExitCodes.For; // as the CLI installs it
        string input = Path.Combine(Corpus, "cases", c.Name);
        string before = Snapshot(input);
        string dir = TestPaths.NewTempDir();
        try
        {
            foreach (int ranks in new[] { 1, 2, 3 })
            {
                string output = Path.Combine(dir, $"out-{ranks}");
                ConvertRequest request = Parse(c.Arguments, input, output);
                string[] results = ThreadCommunicator.Run(ranks, comm =>
                {
                    try { ConversionJob.Run(comm, request); return "no error"; }
                    catch (RankFailedException e) { return $"exit {e.ExitCode}: {e.Message}"; }
                }, TimeSpan.FromSeconds(60));
                Assert.That(results.Distinct().Count(), Is.EqualTo(1), $"{ranks} ranks: {string.Join("\n", results)}");
                Assert.That(results[0], Does.StartWith($"exit {c.Exit}: ").And.Contain(c.File).And.Contain(c.Reason), $"{ranks} ranks");
                Assert.That(File.Exists(Path.Combine(output, Manifest.FileName)) || File.Exists(Path.Combine(output, "latest"))
                            || File.Exists(Path.Combine(output, "model.safetensors.index.json")), Is.False);
            }
            Assert.That(Snapshot(input), Is.EqualTo(before), "the input is untouched");
            Assert.That(Directory.GetFileSystemEntries(dir), Is.Empty, "nothing was created beside the output");
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    /// <summary>The table's arguments as the convert command builds them (its own parser, so options mean the same).</summary>
    private static ConvertRequest Parse(string[] args, string input, string output)
    {
        string[] line = args.SkipWhile(a => a == "convert").Select(a => a.Replace("{in}", input).Replace("{out}", output)).ToArray();
        return ConvertCommand.Parse([.. line, "--max-buffer", "64MiB"]);
    }

    private static string Snapshot(string dir) => string.Join("\n",
        Directory.EnumerateFileSystemEntries(dir, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal)
            .Select(p => new FileInfo(p)).Select(f => $"{f.FullName} {(f.Attributes.HasFlag(FileAttributes.Directory) ? 0 : f.Length)} {f.LastWriteTimeUtc.Ticks} {f.LinkTarget}"));
}
