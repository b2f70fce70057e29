using System.Text;
using System.Text.Json;

namespace Ckptmpi.Conversion.Report;

/// <summary>
/// Where the report goes and how it is written: <c>ckptmpi-report.html</c> and <c>ckptmpi-report.json</c> beside the
/// manifest (or at <c>--report PATH</c>, the JSON beside it), each through a temporary file and a rename. They are
/// not part of the checkpoint: <c>verify</c> does not count them as unexpected files.
/// </summary>
public static class ReportFiles
{
    public const string HtmlName = "ckptmpi-report.html", JsonName = "ckptmpi-report.json";

    /// <summary>The HTML path for a job: <paramref name="requested"/> (a file, or a folder to put the usual name in) or the output directory's.</summary>
    public static string HtmlPath(string? requested, string outputDir) =>
        requested is null ? Path.Combine(outputDir, HtmlName)
        : Directory.Exists(requested) ? Path.Combine(requested, HtmlName) : requested;

    public static string JsonPathFor(string htmlPath) =>
        Path.GetFileName(htmlPath) == HtmlName ? Path.Combine(Path.GetDirectoryName(htmlPath) ?? ".", JsonName) : Path.ChangeExtension(htmlPath, ".json");

    /// <summary>Writes both files; returns the HTML path.</summary>
    public static string Write(RunReport report, string htmlPath)
    {
        string? dir = Path.GetDirectoryName(Path.GetFullPath(htmlPath));
        if (dir is not null) Directory.CreateDirectory(dir);
        WriteAtomically(JsonPathFor(htmlPath), JsonSerializer.SerializeToUtf8Bytes(report, RunReport.Json));
        WriteAtomically(htmlPath, Encoding.UTF8.GetBytes(ReportHtml.Render(report)));
        return htmlPath;
    }

    /// <summary>Reads a report's JSON from a file or from a folder holding <see cref="JsonName"/>.</summary>
    /// <exception cref="Errors.CheckpointFormatException">not a report.</exception>
    public static RunReport Read(string path)
    {
        string file = Directory.Exists(path) ? Path.Combine(path, JsonName) : path;
        try
        {
            return JsonSerializer.Deserialize<RunReport>(Tensors.InputFiles.ReadText(file), RunReport.Json)
                   ?? throw new JsonException("empty");
        }
        catch (JsonException e)
        {
            throw new Errors.CheckpointFormatException(file, null, $"not a ckptmpi run report: {e.Message}");
        }
    }

    /// <summary>
    /// Through a temporary file and a rename, so a reader never sees half a report; not fsynced: the report is a
    /// diagnostic that <c>ckptmpi report</c> can render again, and an fsync behind gigabytes of freshly written
    /// checkpoint waited on the disk for longer than the rest of the report took.
    /// </summary>
    private static void WriteAtomically(string path, byte[] bytes)
    {
        string tmp = path + ".tmp";
        using (FileStream s = Tensors.OwnFiles.CreateNew(tmp)) s.Write(bytes);
        File.Move(tmp, path, overwrite: true);
    }
}
