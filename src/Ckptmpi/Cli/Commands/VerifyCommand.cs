using System.CommandLine;
using Ckptmpi.Conversion.Verification;

namespace Ckptmpi.Cli.Commands;

/// <summary>
/// <c>ckptmpi verify OUT_DIR [--against SOURCE_DIR]</c>: proves a converted checkpoint against its manifest, and
/// optionally against its source value by value (issue #7). Exit 0 when everything matches, 3 otherwise.
/// </summary>
public static class VerifyCommand
{
    public static Command Create()
    {
        var dir = new Argument<string>("OUT_DIR") { Description = "A checkpoint written by ckptmpi convert (with ckptmpi-manifest.json)." };
        var against = new Option<string?>("--against") { Description = "The source checkpoint: compare every tensor value by value." };
        var command = new Command("verify", "Check a converted checkpoint against its manifest (sizes, CRC-32) and optionally its source (values).");
        command.Arguments.Add(dir);
        command.Options.Add(against);
        command.SetAction(parse => JobRunner.Run(comm =>
        {
            string outputDir = parse.GetRequiredValue(dir);
            var problems = Verifier.CheckFiles(comm, outputDir).ToList();
            if (comm.Rank == 0) Console.WriteLine(problems.Count == 0 ? $"files: every file matches {outputDir}/ckptmpi-manifest.json (size, crc32)" : $"files: {problems.Count} problem(s)");
            if (parse.GetValue(against) is string source)
            {
                var values = Verifier.CheckValues(comm, outputDir, source);
                if (comm.Rank == 0) Console.WriteLine(values.Count == 0 ? $"values: every tensor equals the source {source}" : $"values: {values.Count} tensor(s) differ");
                problems.AddRange(values);
            }
            if (comm.Rank == 0) foreach (string p in problems.Take(50)) Console.WriteLine("  " + p);
            return problems.Count == 0 ? ExitCodes.Success : ExitCodes.BadInput;
        }));
        return command;
    }
}
