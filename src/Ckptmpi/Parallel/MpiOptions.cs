namespace Ckptmpi.Parallel;

/// <summary>
/// How <see cref="MpiCommunicator"/> loads libmpi and splits large messages. Production uses the defaults; the
/// test knobs make the chunked and fallback paths run with small messages.
/// <list type="table">
/// <item><term>CKPTMPI_MPI</term><description>auto (default: MPI only when a launcher is detected), on, off.</description></item>
/// <item><term>CKPTMPI_MPI_LIB</term><description>exact libmpi to load (soname or path), no probing.</description></item>
/// <item><term>CKPTMPI_MPI_CHUNK_BYTES</term><description>largest single message (default 1 GiB).</description></item>
/// <item><term>CKPTMPI_MPI_INT_LIMIT</term><description>largest count or displacement passed as C int (default int.MaxValue);
/// lower it to force the large-count or point-to-point path in tests.</description></item>
/// <item><term>CKPTMPI_MPI_LARGE_COUNT</term><description>on (default) or off: ignore MPI-4 <c>_c</c> exports.</description></item>
/// <item><term>CKPTMPI_FAILED_RANK_WAIT_SECONDS</term><description>how long a failing rank waits for the others at the
/// end-of-job agreement before it aborts the job (default 5).</description></item>
/// </list>
/// </summary>
public sealed record MpiOptions
{
    public const long DefaultChunkBytes = 1L << 30;

    public RunMode Mode { get; init; } = RunMode.Auto;
    public string? Library { get; init; }
    public long ChunkBytes { get; init; } = DefaultChunkBytes;
    public long IntLimit { get; init; } = int.MaxValue;
    public bool UseLargeCount { get; init; } = true;
    public TimeSpan FailedRankWait { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Reads the CKPTMPI_MPI* variables of the current process.</summary>
    /// <exception cref="ArgumentException">A variable has a value that is not understood.</exception>
    public static MpiOptions FromEnvironment(Func<string, string?>? getenv = null)
    {
        getenv ??= Environment.GetEnvironmentVariable;
        string? Get(string name) => getenv(name) is { } v && !string.IsNullOrWhiteSpace(v) ? v.Trim() : null;
        long Positive(string name, long fallback, long max)
        {
            if (Get(name) is not { } v) return fallback;
            if (!long.TryParse(v, out long n) || n < 1 || n > max)
                throw new ArgumentException($"{name}={v} is not a whole number in [1, {max}]");
            return n;
        }

        RunMode mode = Get("CKPTMPI_MPI")?.ToLowerInvariant() switch
        {
            null or "auto" => RunMode.Auto,
            "on" or "1" or "yes" or "true" => RunMode.On,
            "off" or "0" or "no" or "false" => RunMode.Off,
            string other => throw new ArgumentException($"CKPTMPI_MPI={other} is not one of auto, on, off"),
        };
        bool large = Get("CKPTMPI_MPI_LARGE_COUNT")?.ToLowerInvariant() switch
        {
            null or "on" or "1" or "yes" or "true" => true,
            "off" or "0" or "no" or "false" => false,
            string other => throw new ArgumentException($"CKPTMPI_MPI_LARGE_COUNT={other} is not on or off"),
        };
        return new MpiOptions
        {
            Mode = mode,
            Library = Get("CKPTMPI_MPI_LIB"),
            ChunkBytes = Positive("CKPTMPI_MPI_CHUNK_BYTES", DefaultChunkBytes, int.MaxValue),
            IntLimit = Positive("CKPTMPI_MPI_INT_LIMIT", int.MaxValue, int.MaxValue),
            UseLargeCount = large,
            FailedRankWait = TimeSpan.FromSeconds(Positive("CKPTMPI_FAILED_RANK_WAIT_SECONDS", 5, 86_400)),
        };
    }
}
