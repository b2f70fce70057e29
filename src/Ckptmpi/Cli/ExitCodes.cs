using Ckptmpi.Errors;
using Ckptmpi.Parallel;

namespace Ckptmpi.Cli;

/// <summary>
/// The documented exit codes of ckptmpi, the same on every rank of a job (README "Exit codes").
/// Only the Cli layer maps exceptions to these.
/// </summary>
public static class ExitCodes
{
    public const int Success = 0;

    /// <summary>Bad command line (unknown option, invalid value). System.CommandLine's own default (1) is replaced by this.</summary>
    public const int Usage = 2;

    /// <summary>The input is malformed, unsupported, or contradicts itself.</summary>
    public const int BadInput = 3;

    /// <summary>The MPI environment is wrong: libmpi not found, wrong library family for the launcher, MPI call failed.</summary>
    public const int MpiEnvironment = 4;

    /// <summary>Reading or writing failed: missing file, permission, full disk, output already exists.</summary>
    public const int IoError = 5;

    /// <summary>Stopped by SIGINT (130) or SIGTERM (143) at a safe point; <c>--resume</c> finishes the job.</summary>
    public const int InterruptedBySigint = 130, InterruptedBySigterm = 143;

    /// <summary>A bug in ckptmpi (an unexpected exception); EX_SOFTWARE.</summary>
    public const int Internal = 70;

    /// <summary>Maps an exception to its exit code.</summary>
    public static int For(Exception e) => e switch
    {
        RankFailedException r => r.ExitCode,
        Parallel.InterruptedException i => i.ExitCode,
        CommunicatorAbortedException a => a.ExitCode,
        CheckpointFormatException or UnsupportedCheckpointException => BadInput,
        OutputExistsException => IoError,
        UsageException or FormatOptionException => Usage,
        MpiException or MpiEnvironmentException => MpiEnvironment,
        FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException or IOException => IoError,
        AggregateException { InnerExceptions.Count: 1 } a => For(a.InnerExceptions[0]),
        _ => Internal,
    };
}

/// <summary>A command line that parses but makes no sense (conflicting options, bad size string).</summary>
public sealed class UsageException(string message) : Exception(message);
