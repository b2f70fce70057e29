namespace Ckptmpi.Cli;

/// <summary>The global logging options (--verbose, --log-dir), parsed once by <see cref="Program"/> for <see cref="JobRunner"/>.</summary>
public sealed record LoggingOptions(bool Verbose = false, string? LogDirectory = null)
{
    public static LoggingOptions Default { get; } = new();
}
