using System.CommandLine;
using Ckptmpi.Conversion.Demo;

namespace Ckptmpi.Cli.Commands;

/// <summary>
/// <c>ckptmpi demo</c>: the README's first command. Writes a small Llama-style model, converts it HF -> ZeRO-3
/// (dp 4) -> HF and checks the round trip bit for bit; exit 0 only if everything matches.
/// </summary>
public static class DemoCommand
{
    public static Command Create()
    {
        var dir = new Option<string?>("--dir") { Description = "Where to put the demo checkpoints (default: a new folder under the system temp directory, removed afterwards)." };
        var keep = new Option<bool>("--keep") { Description = "Keep the demo checkpoints to look at." };
        var command = new Command("demo", "Convert a built-in small model HF -> ZeRO-3 -> HF and prove the round trip bit-exact.");
        command.Options.Add(dir);
        command.Options.Add(keep);
        command.SetAction(parse => JobRunner.Run(comm =>
        {
            string? given = parse.GetValue(dir);
            // Every rank must use the same folder: rank 0 names it when none is given.
            string folder = given ?? Ckptmpi.Parallel.CommunicatorExtensions.BcastObject(comm,
                comm.Rank == 0 ? Path.Combine(Path.GetTempPath(), "ckptmpi-demo-" + Guid.NewGuid().ToString("N")[..8]) : null, 0);
            try
            {
                // The demo's checkpoints are removed afterwards, its run reports are kept to be opened.
                string? reports = given is null && !parse.GetValue(keep) ? Path.Combine(Path.GetTempPath(), "ckptmpi-demo-reports") : null;
                (bool ok, string summary) = DemoRun.Run(comm, folder, new DemoModel(), reports);
                if (comm.Rank == 0) Console.Out.Write(summary);
                return ok ? ExitCodes.Success : ExitCodes.BadInput;
            }
            finally
            {
                comm.Barrier();
                if (comm.Rank == 0 && given is null && !parse.GetValue(keep) && Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
            }
        }));
        return command;
    }
}
