using System.Collections.Concurrent;
using System.Text.Json;
using Ckptmpi.Errors;
using Serilog;

namespace Ckptmpi.Conversion.Execution;

/// <summary>
/// One conversion at a time per output directory. Rank 0 creates <c>OUT/ckptmpi.lock</c> exclusively before the
/// first write and removes it when the job ends (successfully or with a clean failure). A second job on the same
/// output (a requeued job racing the old one, a user starting the command twice) finds the lock and is refused
/// with the holder's host, pid, job id and start time. A job killed outright leaves its lock behind: on the same
/// host a holder whose process is gone is provably stale and <c>--resume</c>/<c>--overwrite</c> take it over; on
/// another host nothing can be proven, so the message says how to recover by hand.
/// </summary>
public sealed class OutputLock
{
    public const string FileName = "ckptmpi.lock";

    /// <summary>Locks this process holds (path -> token), so an in-process run can tell its own live lock from a stale one.</summary>
    private static readonly ConcurrentDictionary<string, string> s_held = new(StringComparer.Ordinal);

    private readonly string _path;
    private readonly string _token;

    private OutputLock(string path, string token)
    {
        _path = path;
        _token = token;
    }

    /// <summary>Who holds a lock: written as JSON into the lock file.</summary>
    public sealed record Holder(string Host, int Pid, string? JobId, DateTime StartedUtc, string Token, IReadOnlyList<string> CommandLine);

    /// <summary>Takes the lock of <paramref name="outputDir"/> (created if missing).</summary>
    /// <param name="takeOverStale">--resume or --overwrite: a lock whose holder is provably dead is replaced.</param>
    /// <exception cref="OutputExistsException">another job holds it, or a stale lock is in the way of a plain run.</exception>
    public static OutputLock Acquire(string outputDir, bool takeOverStale, IReadOnlyList<string> commandLine)
    {
        if (File.Exists(outputDir)) throw new OutputExistsException(outputDir, "is a file, not a directory");
        Directory.CreateDirectory(outputDir);
        string path = OutputFiles.Resolve(outputDir, FileName);
        string token = Guid.NewGuid().ToString("N");
        var me = new Holder(Environment.MachineName, Environment.ProcessId, JobId(), DateTime.UtcNow, token, commandLine);
        for (int attempt = 0; attempt < 2; attempt++)
        {
            try
            {
                using (var stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write))
                {
                    JsonSerializer.Serialize(stream, me);
                    stream.Flush(flushToDisk: true);
                }
                s_held[Path.GetFullPath(path)] = token;
                return new OutputLock(path, token);
            }
            catch (IOException) when (File.Exists(path) || new FileInfo(path).LinkTarget is not null)
            {
                Holder? holder = Read(path);
                string who = holder is null ? "an unreadable lock" : Describe(holder);
                bool stale = holder is not null && IsStale(holder, path);
                if (!stale)
                    throw new OutputExistsException(outputDir,
                        $"another conversion is writing here ({who}); wait for it or cancel it. If that job is no longer running "
                        + $"(check {(holder?.JobId is string j ? $"job {j} with squeue/qstat" : "the host and pid")}), remove {path} and rerun with --resume");
                if (!takeOverStale)
                    throw new OutputExistsException(outputDir,
                        $"an interrupted conversion left it ({who}, no longer running); rerun the same command with --resume to finish it, or with --overwrite to start again");
                Log.Warning("{Path}: taking over the lock of an interrupted conversion ({Holder}), which is no longer running", path, who);
                File.Delete(path);
            }
        }
        throw new OutputExistsException(outputDir, $"could not take {path}: another job took it at the same moment");
    }

    /// <summary>Removes the lock if it is still this job's (best effort: a failing job must still report its own error).</summary>
    public void Release()
    {
        s_held.TryRemove(Path.GetFullPath(_path), out _);
        try
        {
            if (Read(_path)?.Token == _token) File.Delete(_path);
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    /// <summary>Forgets the lock without removing it, as a killed job would (in-process crash simulations).</summary>
    public void Abandon() => s_held.TryRemove(Path.GetFullPath(_path), out _);

    /// <summary>
    /// A holder is stale when it ran on this host and its process is gone, or it is this very process but not one
    /// of the locks it holds now (an in-process run that simulated a crash).
    /// </summary>
    private static bool IsStale(Holder holder, string path)
    {
        if (!string.Equals(holder.Host, Environment.MachineName, StringComparison.Ordinal)) return false;
        if (holder.Pid == Environment.ProcessId)
            return !(s_held.TryGetValue(Path.GetFullPath(path), out string? token) && token == holder.Token);
        return OperatingSystem.IsLinux() && !IsRunning(holder.Pid);
    }

    /// <summary>
    /// Whether a process of this host still runs: /proc has it and it is not a zombie (a rank killed by its launcher
    /// stays one until its parent reaps it, and must not hold the output hostage meanwhile).
    /// </summary>
    private static bool IsRunning(int pid)
    {
        try
        {
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            int close = stat.LastIndexOf(')');
            char state = close >= 0 && close + 2 < stat.Length ? stat[close + 2] : 'R';
            return state is not ('Z' or 'X');
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    private static Holder? Read(string path)
    {
        try
        {
            return JsonSerializer.Deserialize<Holder>(Tensors.InputFiles.ReadText(path, 1 << 20));
        }
        catch (Exception e) when (e is JsonException or IOException or CheckpointFormatException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static string Describe(Holder h) =>
        $"pid {h.Pid} on {h.Host}{(h.JobId is null ? "" : $", job {h.JobId}")}, started {h.StartedUtc:yyyy-MM-dd HH:mm:ss} UTC";

    /// <summary>The batch system's job id, so the message can say which job to look for.</summary>
    private static string? JobId() =>
        Environment.GetEnvironmentVariable("SLURM_JOB_ID") ?? Environment.GetEnvironmentVariable("PBS_JOBID")
        ?? Environment.GetEnvironmentVariable("FLUX_JOB_ID") ?? Environment.GetEnvironmentVariable("LSB_JOBID");
}
