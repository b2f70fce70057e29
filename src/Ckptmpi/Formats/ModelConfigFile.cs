using System.Text;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Formats;

/// <summary>The model's <c>config.json</c>, which every format keeps beside its weights so that the next conversion finds it.</summary>
public static class ModelConfigFile
{
    public const string FileName = "config.json";

    /// <summary>The text of <paramref name="path"/>, when it exists.</summary>
    public static string? TryRead(string path) => File.Exists(path) ? Tensors.InputFiles.ReadText(path) : null;

    /// <summary>Adds the source's config.json to <paramref name="layout"/> as a literal file (at <paramref name="relativePath"/>), so it goes through the same commit path as the weights.</summary>
    public static OutputLayout AppendTo(OutputLayout layout, SourceFacts facts, string relativePath = FileName)
    {
        if (facts.ModelConfigJson is not string text) return layout;
        byte[] bytes = Encoding.UTF8.GetBytes(text);
        var file = new OutputFile(relativePath, bytes.Length, [new LiteralSegment(0, bytes)], []);
        return new OutputLayout([.. layout.Files, file]);
    }
}
