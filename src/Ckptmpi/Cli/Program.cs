using System.CommandLine;
using System.CommandLine.Invocation;
using Ckptmpi.Parallel;

namespace Ckptmpi.Cli;

/// <summary>The ckptmpi entry point: parse, run the command on every rank, map failures to exit codes.</summary>
public static class Program
{
    /// <summary>--verbose: Debug logs on every rank (default: Information on rank 0, Warning and up elsewhere).</summary>
    public static readonly Option<bool> VerboseOption = new("--verbose", "-v")
    {
        Description = "Log more (debug level), on every rank.",
        Recursive = true,
    };

    /// <summary>--log-dir: one log file per rank in this directory.</summary>
    public static readonly Option<string?> LogDirOption = new("--log-dir")
    {
        Description = "Also write one log file per rank (ckptmpi-rankNNNNN.log) into this directory.",
        Recursive = true,
    };

    public static int Main(string[] args)
    {
        LauncherEnvironment launcher = LauncherEnvironment.FromProcess();
        // Open MPI gives each rank a pty, and .NET's console then writes terminal set-up escapes (ESC[?1h ESC=)
        // into the job's output. Under a launcher the output is a log, not a terminal:
        // a dumb TERM, set before the first Console call, stops that.
        if (launcher.Launched) Environment.SetEnvironmentVariable("TERM", "dumb");

        RootCommand root = CommandCatalog.CreateRoot();
        root.Options.Add(VerboseOption);
        root.Options.Add(LogDirOption);
        ParseResult parse = root.Parse(args);

        // Every rank parses the same command line; only rank 0 prints help, version and usage errors.
        var config = new InvocationConfiguration { EnableDefaultExceptionHandler = false };
        if (launcher.Rank != 0)
        {
            config.Output = TextWriter.Null;
            config.Error = TextWriter.Null;
        }
        JobRunner.Logging = new LoggingOptions(parse.GetValue(VerboseOption), parse.GetValue(LogDirOption));
        int code;
        try
        {
            code = parse.Invoke(config);
        }
        catch (Exception e)
        {
            // A command that failed before reaching JobRunner (e.g. an option value it rejects).
            code = ExitCodes.For(e);
            Console.Error.WriteLine($"ckptmpi: error: {e.Message}");
        }
        // System.CommandLine returns 1 for a command line it cannot parse; our documented code is 2.
        return parse.Action is ParseErrorAction ? ExitCodes.Usage : code;
    }
}
