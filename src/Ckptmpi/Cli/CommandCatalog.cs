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
        root.Subcommands.Add(MpiSelfTestCommand.Create());
        root.Subcommands.Add(EstimateCommand.Create());
        root.Subcommands.Add(InspectCommand.Create());
        root.Subcommands.Add(ConvertCommand.Create());
        root.Subcommands.Add(DemoCommand.Create());
        root.Subcommands.Add(VerifyCommand.Create());
        root.Subcommands.Add(ReportCommand.Create());
        root.Subcommands.Add(BenchMakeModelCommand.Create());
        return root;
    }
}
