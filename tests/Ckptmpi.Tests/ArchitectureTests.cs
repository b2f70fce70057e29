using System.Text.RegularExpressions;

namespace Ckptmpi.Tests;

/// <summary>
/// The layering of docs/architecture.md, enforced on the source: dependencies only point down, and format code
/// (and the tensor and model layers) never references MPI or the layers above it.
/// </summary>
public sealed class ArchitectureTests
{
    // Layer -> the namespaces it must not use.
    private static readonly (string Folder, string[] Forbidden)[] Rules =
    [
        ("Errors", ["Ckptmpi.Tensors", "Ckptmpi.Parallel", "Ckptmpi.Model", "Ckptmpi.Formats", "Ckptmpi.Conversion", "Ckptmpi.Cli"]),
        ("Tensors", ["Ckptmpi.Parallel", "Ckptmpi.Model", "Ckptmpi.Formats", "Ckptmpi.Conversion", "Ckptmpi.Cli"]),
        ("Parallel", ["Ckptmpi.Tensors", "Ckptmpi.Model", "Ckptmpi.Formats", "Ckptmpi.Conversion", "Ckptmpi.Cli"]),
        ("Model", ["Ckptmpi.Parallel", "Ckptmpi.Formats", "Ckptmpi.Conversion", "Ckptmpi.Cli"]),
        ("Formats", ["Ckptmpi.Parallel", "Ckptmpi.Conversion", "Ckptmpi.Cli"]),
        ("Conversion", ["Ckptmpi.Cli"]),
    ];

    internal static string RepoRoot()
    {
        string? dir = TestContext.CurrentContext.TestDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "Converter.sln"))) dir = Path.GetDirectoryName(dir);
        return dir ?? throw new DirectoryNotFoundException("Converter.sln not found above the test directory");
    }

    [TestCaseSource(nameof(Layers))]
    public void Layer_uses_only_the_layers_below_it(string folder)
    {
        string[] forbidden = Rules.Single(r => r.Folder == folder).Forbidden;
        string root = Path.Combine(RepoRoot(), "src", "Ckptmpi", folder);
        var violations = new List<string>();
        foreach (string file in Directory.EnumerateFiles(root, "*.cs", SearchOption.AllDirectories))
        {
            string text = File.ReadAllText(file);
            foreach (string ns in forbidden)
            {
                if (Regex.IsMatch(text, $@"\b{Regex.Escape(ns)}\b"))
                    violations.Add($"{Path.GetRelativePath(root, file)} references {ns}");
            }
        }
        Assert.That(violations, Is.Empty);
    }

    [Test]
    public void Every_source_file_declares_the_namespace_of_its_folder()
    {
        string src = Path.Combine(RepoRoot(), "src", "Ckptmpi");
        var wrong = new List<string>();
        foreach (string file in Directory.EnumerateFiles(src, "*.cs", SearchOption.AllDirectories))
        {
            string rel = Path.GetRelativePath(src, Path.GetDirectoryName(file)!);
            if (rel.StartsWith("obj") || rel.StartsWith("bin")) continue;
            string expected = "Ckptmpi" + (rel == "." ? "" : "." + rel.Replace(Path.DirectorySeparatorChar, '.'));
            Match m = Regex.Match(File.ReadAllText(file), @"^namespace\s+([\w.]+)\s*;", RegexOptions.Multiline);
            if (!m.Success || m.Groups[1].Value != expected) wrong.Add($"{file}: expected namespace {expected}");
        }
        Assert.That(wrong, Is.Empty);
    }

    private static IEnumerable<string> Layers() => Rules.Select(r => r.Folder);
}
