using System.Text;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Formats;

/// <summary>The model's <c>config.json</c>, which every format keeps beside its weights so that the next conversion finds it.</summary>
public static class ModelConfigFile
{
    public const string FileName = "config.json";

    /// <summary>The text of <paramref name="path"/>, when it exists.</summary>
    public static string? TryRead(string path) => File.Exists(path) ? Tensors.InputFiles.ReadText(path) : null;

    /// <summary>
    /// Adds the source's config.json to <paramref name="layout"/> as a literal file (at <paramref name="relativePath"/>),
    /// and its <see cref="SourceFacts.SideFiles"/> beside it, so they go through the same commit path as the weights.
    /// </summary>
    public static OutputLayout AppendTo(OutputLayout layout, SourceFacts facts, string relativePath = FileName)
    {
        var files = new List<OutputFile>(layout.Files);
        if (facts.ModelConfigJson is string text)
        {
            byte[] bytes = Encoding.UTF8.GetBytes(text);
            files.Add(new OutputFile(relativePath, bytes.Length, [new LiteralSegment(0, bytes)], []));
        }
        string folder = Path.GetDirectoryName(relativePath) is { Length: > 0 } d ? d + "/" : "";
        foreach (var (name, bytes) in facts.SideFiles ?? new Dictionary<string, byte[]>())
        {
            if (files.Any(f => f.RelativePath == folder + name)) continue; // The writer's own file of that name wins.
            files.Add(new OutputFile(folder + name, bytes.Length, bytes.Length == 0 ? [] : [new LiteralSegment(0, bytes)], []));
        }
        return new OutputLayout(files);
    }
}
