using Serilog;
using Serilog.Events;
using Serilog.Sinks.SystemConsole.Themes;

namespace Ckptmpi.Cli;

/// <summary>
/// Serilog for one rank: every line starts with <c>[r{rank}/{size}@{host}]</c>; rank 0 shows Information and up,
/// other ranks Warning and up (so 48 ranks do not print 48 copies of the same progress), everything from Debug
/// with --verbose. Logs go to stderr, so stdout stays clean for results (--json). With --log-dir each rank also
/// writes its own file, at Debug level. Colours only for a plain process on a terminal: under mpiexec stdout/stderr may be a pty
/// (Open MPI) and escapes would end up in job logs.
/// </summary>
public static class LoggingSetup
{
    public const string Template = "[r{Rank}/{Size}@{Host}] {Timestamp:HH:mm:ss.fff} {Level:u3} {Message:lj}{NewLine}{Exception}";

    /// <summary>Replaces the global logger; called before MPI starts (ranks from the launcher) and again if MPI disagrees.</summary>
    public static void Configure(int rank, int size, LoggingOptions options, bool launched)
    {
        LogEventLevel console = options.Verbose ? LogEventLevel.Debug : rank == 0 ? LogEventLevel.Information : LogEventLevel.Warning;
        var config = new LoggerConfiguration()
            .MinimumLevel.Debug()
            .Enrich.WithProperty("Rank", rank)
            .Enrich.WithProperty("Size", size)
            .Enrich.WithProperty("Host", ShortHostName())
            .WriteTo.Console(
                restrictedToMinimumLevel: console,
                outputTemplate: Template,
                standardErrorFromLevel: LogEventLevel.Verbose,
                theme: UseColour(launched) ? AnsiConsoleTheme.Code : ConsoleTheme.None);
        if (options.LogDirectory is { Length: > 0 } dir)
        {
            Directory.CreateDirectory(dir);
            // Files get Debug on every rank: they are read after a failure, when every rank's detail matters.
            config = config.WriteTo.File(LogFile(dir, rank), restrictedToMinimumLevel: LogEventLevel.Debug, outputTemplate: Template, shared: false);
        }
        Log.Logger = config.CreateLogger();
    }

    /// <summary>The log file of <paramref name="rank"/> under --log-dir.</summary>
    public static string LogFile(string directory, int rank) => Path.Combine(directory, $"ckptmpi-rank{rank:D5}.log");

    public static string ShortHostName()
    {
        string host = Environment.MachineName;
        int dot = host.IndexOf('.');
        return dot > 0 ? host[..dot] : host;
    }

    private static bool UseColour(bool launched) =>
        !launched && !Console.IsErrorRedirected
        && Environment.GetEnvironmentVariable("NO_COLOR") is null or ""
        && Environment.GetEnvironmentVariable("TERM") is not ("dumb" or null or "");
}
