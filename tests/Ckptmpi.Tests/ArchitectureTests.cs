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

    private static NamespaceGraph Graph() => NamespaceGraph.Load(Path.Combine(RepoRoot(), "src", "Ckptmpi"));

    [TestCase("Ckptmpi.Conversion")]
    [TestCase("Ckptmpi.Formats")]
    public void No_two_namespaces_of_a_layer_depend_on_each_other_even_through_others(string layer)
    {
        Assert.That(Graph().FindCycle(n => n == layer || n.StartsWith(layer + ".", StringComparison.Ordinal)), Is.Empty, "a dependency cycle");
    }

    [Test]
    public void The_planner_never_references_execution_journal_manifests_verify_the_conversion_root_or_file_APIs()
    {
        NamespaceGraph g = Graph();
        const string planning = "Ckptmpi.Conversion.Planning";
        Assert.That(g.Uses(planning).Where(n => n.StartsWith("Ckptmpi.Conversion", StringComparison.Ordinal)), Is.Empty);
        var fileApis = g.Files[planning].Where(f => Regex.IsMatch(g.Texts[f], @"\b(File|Directory|FileStream|FileInfo|DirectoryInfo|StreamReader|StreamWriter|RandomAccess)\s*[.(]"))
            .Select(Path.GetFileName);
        Assert.That(fileApis, Is.Empty, "Planning touches the filesystem");
    }

    [Test]
    public void Execution_journal_and_manifests_never_reference_the_conversion_root()
    {
        NamespaceGraph g = Graph();
        foreach (string ns in new[] { "Execution", "Journal", "Manifests" }.Select(n => "Ckptmpi.Conversion." + n))
            Assert.That(g.Uses(ns), Does.Not.Contain("Ckptmpi.Conversion"), ns);
    }

    [Test]
    public void A_format_folder_references_no_other_format_but_the_shared_torch_container_and_the_contract_references_none()
    {
        NamespaceGraph g = Graph();
        var folders = g.Namespaces.Where(n => n.StartsWith("Ckptmpi.Formats.", StringComparison.Ordinal)).ToList();
        Assert.That(folders, Has.Some.EqualTo("Ckptmpi.Formats.Safetensors").And.Some.EqualTo("Ckptmpi.Formats.DeepSpeed"));
        static string Folder(string ns) => string.Join('.', ns.Split('.').Take(3));
        // A format whose files are another format's files plus its own reads them through that format's reader:
        // a Megatron-DeepSpeed folder holds DeepSpeed ZeRO partitions per model-parallel rank.
        var buildsOn = new HashSet<(string, string)>
        {
            ("Ckptmpi.Formats.MegaDs", "Ckptmpi.Formats.DeepSpeed"),
            // a universal checkpoint is a Megatron-DeepSpeed run's parameters merged by DeepSpeed.
            ("Ckptmpi.Formats.Universal", "Ckptmpi.Formats.MegaDs"), ("Ckptmpi.Formats.Universal", "Ckptmpi.Formats.DeepSpeed"),
        };
        foreach (string ns in folders)
        {
            var foreign = g.Uses(ns).Where(u => u.StartsWith("Ckptmpi.Formats.", StringComparison.Ordinal) && Folder(u) != Folder(ns) && Folder(u) != "Ckptmpi.Formats.Torch"
                && !buildsOn.Contains((Folder(ns), Folder(u))));
            Assert.That(foreign, Is.Empty, ns);
        }
        Assert.That(g.Uses("Ckptmpi.Formats").Where(u => u.StartsWith("Ckptmpi.Formats.", StringComparison.Ordinal)), Is.Empty, "the plug-in contract depends on no format");
    }
}
