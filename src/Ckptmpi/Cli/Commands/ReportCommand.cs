using System.CommandLine;
using Ckptmpi.Conversion.Report;

namespace Ckptmpi.Cli.Commands;

/// <summary><c>ckptmpi report OUT_DIR</c>: renders the run report's HTML again from its JSON (after an upgrade, or elsewhere).</summary>
public static class ReportCommand
{
    public static Command Create()
    {
        var source = new Argument<string>("path") { Description = "An output directory holding ckptmpi-report.json, or the JSON file itself." };
        var output = new Option<string?>("--output") { Description = "Where to write the HTML (default: beside the JSON)." };
        var command = new Command("report", "Render the run report of a conversion (HTML) from its ckptmpi-report.json.") { source, output };
        command.SetAction(parse => JobRunner.Run(comm =>
        {
            if (comm.Rank != 0) return ExitCodes.Success;
            string path = parse.GetRequiredValue(source);
            RunReport report = ReportFiles.Read(path);
            string json = Directory.Exists(path) ? Path.Combine(path, ReportFiles.JsonName) : path;
            string html = parse.GetValue(output) ?? Path.Combine(Path.GetDirectoryName(Path.GetFullPath(json))!, ReportFiles.HtmlName);
            ReportFiles.Write(report, html);
            Console.Out.WriteLine($"report: {Path.GetFullPath(html)} ({report.Ranks} ranks, {report.WallSeconds:0.00} s)");
            return ExitCodes.Success;
        }));
        return command;
    }
}
