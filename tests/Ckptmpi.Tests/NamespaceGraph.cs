using System.Text.RegularExpressions;

namespace Ckptmpi.Tests;

/// <summary>
/// Which namespace of src/Ckptmpi uses which, read from the source: fully or partly qualified names
/// (<c>using Ckptmpi.X;</c>, <c>Verify.ConfigShapeCheck</c>) and the types of enclosing namespaces, which C# makes
/// visible without a using. Comments and string literals are ignored.
/// </summary>
public sealed partial class NamespaceGraph
{
    private NamespaceGraph(Dictionary<string, HashSet<string>> edges, Dictionary<string, List<string>> files, Dictionary<string, string> texts)
    {
        Edges = edges;
        Files = files;
        Texts = texts;
    }

    /// <summary>Namespace -> the namespaces it references (never itself).</summary>
    public IReadOnlyDictionary<string, HashSet<string>> Edges { get; }

    /// <summary>Namespace -> its source files.</summary>
    public IReadOnlyDictionary<string, List<string>> Files { get; }

    /// <summary>Source file -> its text without comments and string literals.</summary>
    public IReadOnlyDictionary<string, string> Texts { get; }

    public IEnumerable<string> Namespaces => Files.Keys;

    public IEnumerable<string> Uses(string ns) => Edges.TryGetValue(ns, out var e) ? e : [];

    public static NamespaceGraph Load(string srcRoot)
    {
        var files = new Dictionary<string, List<string>>();
        var texts = new Dictionary<string, string>();
        foreach (string file in Directory.EnumerateFiles(srcRoot, "*.cs", SearchOption.AllDirectories))
        {
            string rel = Path.GetRelativePath(srcRoot, Path.GetDirectoryName(file)!);
            if (rel.StartsWith("obj") || rel.StartsWith("bin")) continue;
            string ns = "Ckptmpi" + (rel == "." ? "" : "." + rel.Replace(Path.DirectorySeparatorChar, '.'));
            (files.TryGetValue(ns, out var list) ? list : files[ns] = []).Add(file);
            texts[file] = StringLiteral().Replace(Comment().Replace(File.ReadAllText(file), ""), "\"\"");
        }
        var types = files.ToDictionary(kv => kv.Key, kv => kv.Value.SelectMany(f => TypeDeclaration().Matches(texts[f]).Select(m => m.Groups[1].Value)).ToHashSet());
        var edges = new Dictionary<string, HashSet<string>>();
        foreach (var (ns, list) in files)
        {
            var uses = edges[ns] = [];
            foreach (string text in list.Select(f => texts[f]))
            {
                foreach (Match m in QualifiedName().Matches(text))
                {
                    if (Resolve(ns, m.Groups[1].Value, files.Keys) is string target && target != ns) uses.Add(target);
                }
                foreach (string enclosing in Enclosing(ns).Skip(1))
                {
                    if (types.TryGetValue(enclosing, out var declared) && declared.Any(t => Regex.IsMatch(text, $@"\b{t}\b"))) uses.Add(enclosing);
                }
            }
        }
        return new NamespaceGraph(edges, files, texts);
    }

    /// <summary>The namespaces on a cycle among those <paramref name="include"/> accepts, if any (one cycle, in order).</summary>
    public IReadOnlyList<string> FindCycle(Func<string, bool> include)
    {
        var state = new Dictionary<string, int>();
        var stack = new List<string>();
        List<string>? Visit(string n)
        {
            state[n] = 1;
            stack.Add(n);
            foreach (string m in Uses(n).Where(include))
            {
                if (state.GetValueOrDefault(m) == 1) return [.. stack.Skip(stack.IndexOf(m)), m];
                if (state.GetValueOrDefault(m) == 0 && Visit(m) is { } found) return found;
            }
            stack.RemoveAt(stack.Count - 1);
            state[n] = 2;
            return null;
        }
        foreach (string n in Namespaces.Where(include).Order(StringComparer.Ordinal))
        {
            if (state.GetValueOrDefault(n) == 0 && Visit(n) is { } cycle) return cycle;
        }
        return [];
    }

    private static IEnumerable<string> Enclosing(string ns)
    {
        for (string? n = ns; n is not null; n = n.Contains('.') ? n[..n.LastIndexOf('.')] : null) yield return n;
    }

    /// <summary>The longest known namespace a (partly) qualified name written in <paramref name="ns"/> starts with.</summary>
    private static string? Resolve(string ns, string name, IEnumerable<string> known)
    {
        var set = known as ICollection<string> ?? known.ToList();
        foreach (string prefix in name.StartsWith("Ckptmpi.", StringComparison.Ordinal) ? [""] : Enclosing(ns))
        {
            string full = prefix.Length == 0 ? name : prefix + "." + name;
            string[] parts = full.Split('.');
            for (int i = parts.Length; i > prefix.Split('.').Length; i--)
            {
                string candidate = string.Join('.', parts[..i]);
                if (set.Contains(candidate)) return candidate;
            }
        }
        return null;
    }

    [GeneratedRegex(@"//[^\n]*|/\*.*?\*/", RegexOptions.Singleline)]
    private static partial Regex Comment();

    [GeneratedRegex(@"@?""(?:[^""\\\n]|\\.)*""")]
    private static partial Regex StringLiteral();

    [GeneratedRegex(@"\b(?:class|record|struct|interface|enum)\s+([A-Z]\w*)")]
    private static partial Regex TypeDeclaration();

    [GeneratedRegex(@"\b([A-Z]\w*(?:\.[A-Z]\w*)+)")]
    private static partial Regex QualifiedName();
}
