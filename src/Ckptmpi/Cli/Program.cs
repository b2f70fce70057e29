using System.CommandLine;

namespace Ckptmpi.Cli;

/// <summary>The ckptmpi entry point: parse, run the command on every rank, map failures to exit codes.</summary>
public static class Program
{
    public static int Main(string[] args)
    {
        RootCommand root = CommandCatalog.CreateRoot();
        return root.Parse(args).Invoke();
    }
}
