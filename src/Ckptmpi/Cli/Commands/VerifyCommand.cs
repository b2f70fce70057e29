using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Ckptmpi.Conversion;
using Ckptmpi.Tensors;
using Ckptmpi.Conversion.Manifests;
using Ckptmpi.Conversion.Planning;
using Ckptmpi.Conversion.Verify;

namespace Ckptmpi.Cli.Commands;

/// <summary>
/// <c>ckptmpi verify OUT_DIR [--against SOURCE_DIR]</c>: proves a converted checkpoint against its manifest (every
/// file's size and CRC-32, no missing or extra file), and optionally against its source value by value.
/// Runs over all ranks of the job. Exit 0 when everything matches, 3 (bad input) when anything differs.
/// </summary>
public static class VerifyCommand
{
    /// <summary>How many problems the text report prints (all of them are in --json).</summary>
    private const int ShownProblems = 50;

    public static Command Create()
    {
        var dir = new Argument<string>("OUT_DIR") { Description = "A checkpoint written by ckptmpi convert (with ckptmpi-manifest.json)." };
        var against = new Option<string?>("--against") { Description = "The source checkpoint: compare every tensor value by value." };
        var from = new Option<string?>("--from") { Description = "Format of --against (hf, zero); default: the manifest's, else detected." };
        var format = new Option<string?>("--format") { Description = "Format of OUT_DIR (hf, zero); default: the manifest's, else detected." };
        var tag = new Option<string?>("--tag") { Description = "ZeRO tag to read on the ZeRO side (default: the one in 'latest')." };
        var noFiles = new Option<bool>("--values-only") { Description = "With --against: skip the manifest check (e.g. a checkpoint written by another tool)." };
        var maxBuffer = new Option<string>("--max-buffer") { Description = "Memory per rank for data in flight, e.g. 64MiB.", DefaultValueFactory = _ => ByteSize.Format(BufferBudget.Default) };
        var json = new Option<bool>("--json") { Description = "Print the result as JSON." };
        var command = new Command("verify", "Check a converted checkpoint against its manifest (sizes, CRC-32) and optionally its source (values).");
        command.Arguments.Add(dir);
        foreach (Option o in (Option[])[against, from, format, tag, noFiles, maxBuffer, json]) command.Options.Add(o);
        command.SetAction(parse => JobRunner.Run(comm =>
        {
            string outputDir = parse.GetRequiredValue(dir);
            string? source = parse.GetValue(against);
            if (parse.GetValue(noFiles) && source is null) throw new UsageException("--values-only needs --against");
            long buffer;
            try { buffer = ByteSize.Parse(parse.GetValue(maxBuffer)!); }
            catch (FormatException e) { throw new UsageException($"--max-buffer: {e.Message}"); }
            if (BufferBudget.Problem(buffer) is string problem) throw new UsageException($"--max-buffer {problem}, got {parse.GetValue(maxBuffer)}");

            FileVerifier.Result? files = parse.GetValue(noFiles) ? null : FileVerifier.Run(comm, outputDir, (int)buffer, progress: ProgressReporters.For(comm));
            ValueVerifier.Result? values = source is null ? null
                : ValueVerifier.Run(comm, outputDir, source, new ValueVerifier.Formats(parse.GetValue(from), parse.GetValue(format), parse.GetValue(tag), parse.GetValue(tag)), (int)buffer);
            var problems = (files?.Problems ?? []).Concat(values?.Problems ?? []).ToList();
            if (comm.Rank == 0) Console.Out.Write(parse.GetValue(json) ? Json(outputDir, files, values, problems) : Text(outputDir, source, files, values, problems, comm.Size));
            return problems.Count == 0 ? ExitCodes.Success : ExitCodes.BadInput;
        }));
        return command;
    }

    private static string Text(string outputDir, string? source, FileVerifier.Result? files, ValueVerifier.Result? values, List<VerifyProblem> problems, int ranks)
    {
        var ci = CultureInfo.InvariantCulture;
        var w = new StringWriter(ci);
        if (files is not null)
            w.WriteLine(string.Create(ci, $"files:  {files.Files} listed in {Path.Combine(outputDir, Manifest.FileName)}, {ByteSize.Format(files.Bytes)} checksummed (crc32) in {files.Seconds:0.00} s on {ranks} rank(s): {(files.Problems.Count == 0 ? "all match" : $"{files.Problems.Count} problem(s)")}"));
        if (values is not null)
            w.WriteLine(string.Create(ci, $"values: {values.Tensors} tensors, {values.Elements} elements of {values.OutputFormat} compared with {values.SourceFormat} {source} in {values.Seconds:0.00} s: {(values.Problems.Count == 0 ? "all equal" : $"{values.Problems.Count} problem(s)")}"));
        foreach (VerifyProblem p in problems.Take(ShownProblems)) w.WriteLine("  " + p);
        if (problems.Count > ShownProblems) w.WriteLine($"  ... and {problems.Count - ShownProblems} more (--json lists all)");
        w.WriteLine(problems.Count == 0 ? "OK" : $"FAILED: {problems.Count} problem(s)");
        return w.ToString();
    }

    private static string Json(string outputDir, FileVerifier.Result? files, ValueVerifier.Result? values, List<VerifyProblem> problems) =>
        JsonSerializer.Serialize(new Dictionary<string, object?>
        {
            ["output"] = Path.GetFullPath(outputDir),
            ["ok"] = problems.Count == 0,
            ["files"] = files is null ? null : new { files.Files, files.Bytes, files.Seconds },
            ["values"] = values is null ? null : new { values.Tensors, values.Elements, values.SourceFormat, values.OutputFormat, values.Seconds },
            ["problems"] = problems.Select(p => new { kind = p.Kind.ToString().ToLowerInvariant(), subject = p.Subject, detail = p.Detail }),
        }, Manifest.Json) + Environment.NewLine;
}
