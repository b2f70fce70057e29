using System.CommandLine;
using Ckptmpi.Cli.Commands;

namespace Ckptmpi.Cli;

/// <summary>Every ckptmpi command, one line each (each command lives in its own file under Commands/).</summary>
public static class CommandCatalog
{
    public static RootCommand CreateRoot()
    {
        var root = new RootCommand("ckptmpi: convert LLM checkpoints between training and serving formats, streaming, across MPI ranks.");
        root.Subcommands.Add(MpiInfoCommand.Create());
        root.Subcommands.Add(EstimateCommand.Create());
        return root;
    }
}
