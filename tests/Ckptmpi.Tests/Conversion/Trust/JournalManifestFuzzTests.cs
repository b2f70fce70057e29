using System.Text;
using Ckptmpi.Cli;
using Ckptmpi.Conversion.Journal;
using Ckptmpi.Conversion.Manifests;
using Ckptmpi.Conversion.Verify;
using Ckptmpi.Errors;
using Ckptmpi.Parallel;

using Ckptmpi.Tests.Conversion.Journal;

namespace Ckptmpi.Tests.Conversion.Trust;

/// <summary>
/// Seeded mutation fuzzing of the two files ckptmpi trusts across runs. A damaged manifest makes <c>verify</c> report
/// problems or refuse with a typed error; a damaged journal makes <c>--resume</c> either redo what it cannot prove (and
/// end with the clean run's bytes) or refuse with bad-input or I/O codes. Never a crash (exit 70), never wrong output.
/// </summary>
public sealed class JournalManifestFuzzTests : TrustFixture
{
    public const int ManifestIterations = 400, JournalIterations = 120;

    private static byte[] Mutate(Random rng, byte[] original)
    {
        var bytes = new List<byte>(original);
        int edits = rng.Next(1, 4);
        for (int e = 0; e < edits && bytes.Count > 0; e++)
        {
            int at = rng.Next(bytes.Count);
            switch (rng.Next(7))
            {
                case 0: bytes[at] ^= (byte)(1 << rng.Next(8)); break;                               // bit flip
                case 1: bytes.RemoveRange(at, bytes.Count - at); break;                              // truncation
                case 2: bytes.RemoveRange(at, Math.Min(rng.Next(1, 64), bytes.Count - at)); break;   // a hole
                case 3: bytes.InsertRange(at, Encoding.UTF8.GetBytes(Pick(rng, ["9999999999999999999999", "-1", "null", "[]", "{}", "\"..\"", "1e400", "\"/etc/passwd\"", "\u0000"]))); break;
                case 4: bytes[at] = (byte)"0123456789\",:{}[]"[rng.Next(17)]; break;              // a JSON-shaped byte
                case 5: bytes.InsertRange(at, bytes.GetRange(at, Math.Min(rng.Next(1, 200), bytes.Count - at))); break; // a repeated run
                default: bytes[at] = (byte)rng.Next(256); break;
            }
        }
        return bytes.ToArray();
    }

    private static string Pick(Random rng, string[] options) => options[rng.Next(options.Length)];

    [Test]
    public void A_mutated_manifest_gives_verify_problems_or_a_typed_refusal_never_a_crash()
    {
        string output = Path.Combine(Dir, "out");
        Assert.That(RunInProcess(HfToHf(output)), Is.Null);
        string path = Path.Combine(output, Manifest.FileName);
        byte[] original = File.ReadAllBytes(path);
        var rng = new Random(20261203);
        var outcomes = new Dictionary<string, int>();
        for (int i = 0; i < ManifestIterations; i++)
        {
            byte[] mutated = Mutate(rng, original);
            File.WriteAllBytes(path, mutated);
            string outcome;
            try
            {
                IReadOnlyList<string> problems = Verifier.CheckFiles(new SelfCommunicator(), output);
                outcome = problems.Count == 0 ? "clean" : "problems";
            }
            catch (RankFailedException e)
            {
                Assert.That(e.ExitCode, Is.Not.EqualTo(ExitCodes.Internal), $"iteration {i}: a crash on\n{Encoding.UTF8.GetString(mutated)[..Math.Min(400, mutated.Length)]}\n{e}");
                outcome = $"refused ({e.ExitCode})";
            }
            catch (Exception e) when (ExitCodes.For(e) != ExitCodes.Internal)
            {
                outcome = $"refused ({ExitCodes.For(e)})";
            }
            outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;
        }
        TestContext.Out.WriteLine(string.Join(", ", outcomes.Select(o => $"{o.Key}: {o.Value}")));
        Assert.That(outcomes.Keys, Has.Some.StartsWith("refused").And.Some.EqualTo("problems"), "the mutations reach both the parser and the checks");
        File.WriteAllBytes(path, original);
        Assert.That(Verifier.CheckFiles(new SelfCommunicator(), output), Is.Empty);
    }

    [Test]
    public void A_mutated_journal_is_redone_or_refused_and_a_finished_resume_is_byte_identical_to_a_clean_run()
    {
        string clean = Path.Combine(Dir, "clean");
        Assert.That(RunInProcess(HfToHf(clean)), Is.Null);
        var reference = Manifest.Read(clean).Outputs.Select(o => (o.Path, o.Checksum)).ToList();

        string pristine = Path.Combine(Dir, "interrupted");
        Assert.That(RunInProcess(HfToHf(pristine), faults: new InjectedFaults { KillAfterPieces = 4, KillRank = 1 }), Is.Not.Null);
        string[] journalFiles = Directory.GetFiles(JournalPaths.Directory(pristine)).Select(f => Path.GetFileName(f)).Order().ToArray();
        Assert.That(journalFiles, Does.Contain(JournalPaths.PlanFileName));

        var rng = new Random(31337);
        var outcomes = new Dictionary<string, int>();
        for (int i = 0; i < JournalIterations; i++)
        {
            string output = Path.Combine(Dir, $"fuzz-{i}");
            CopyDirectory(pristine, output);
            string victim = Path.Combine(JournalPaths.Directory(output), journalFiles[rng.Next(journalFiles.Length)]);
            File.WriteAllBytes(victim, Mutate(rng, File.ReadAllBytes(victim)));

            string?[] messages = ThreadCommunicator.Run(2, comm =>
            {
                try { ConversionJob(comm, HfToHf(output, resume: true)); return null; }
                catch (RankFailedException e) { return $"{e.ExitCode}|{e.Message}"; }
            }, TimeSpan.FromSeconds(60));
            string? failure = messages[0];
            if (failure is null)
            {
                Assert.That(Manifest.Read(output).Outputs.Select(o => (o.Path, o.Checksum)), Is.EqualTo(reference), $"iteration {i} ({Path.GetFileName(victim)}): resumed output differs");
                outcomes["finished"] = outcomes.GetValueOrDefault("finished") + 1;
            }
            else
            {
                Assert.That(failure, Does.Not.StartWith($"{ExitCodes.Internal}|"), $"iteration {i} ({Path.GetFileName(victim)}): {failure}");
                Assert.That(File.Exists(Path.Combine(output, Manifest.FileName)), Is.False, $"iteration {i}: refused but a manifest exists");
                outcomes["refused"] = outcomes.GetValueOrDefault("refused") + 1;
            }
            Directory.Delete(output, recursive: true);
        }
        TestContext.Out.WriteLine(string.Join(", ", outcomes.Select(o => $"{o.Key}: {o.Value}")));
        Assert.That(outcomes.Keys, Is.EquivalentTo(new[] { "finished", "refused" }), "mutations reach both the redo path and the refusals");
    }

    private static void ConversionJob(ICommunicator comm, global::Ckptmpi.Conversion.ConvertRequest request) => global::Ckptmpi.Conversion.ConversionJob.Run(comm, request);

    private static void CopyDirectory(string from, string to)
    {
        foreach (string dir in Directory.GetDirectories(from, "*", SearchOption.AllDirectories))
            Directory.CreateDirectory(Path.Combine(to, Path.GetRelativePath(from, dir)));
        Directory.CreateDirectory(to);
        foreach (string file in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
            File.Copy(file, Path.Combine(to, Path.GetRelativePath(from, file)));
    }
}
