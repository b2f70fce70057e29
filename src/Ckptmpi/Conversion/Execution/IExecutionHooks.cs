using Ckptmpi.Conversion.Planning;

namespace Ckptmpi.Conversion.Execution;

/// <summary>
/// What the executor tells the resume journal (Conversion/Journal) as it runs: the phases that touch the output
/// directory, and each chunk before and after it is written. The executor stays the only place where reading,
/// transforming and writing meet; the journal only records, proves and skips. An in-process caller may wrap the
/// journal (<c>ConversionJob.Run</c> with hooks) to act at these points, e.g. to inject faults.
/// </summary>
internal interface IExecutionHooks
{
    /// <summary>
    /// <c>--resume</c> was given (the same on every rank): chunks the journal proves complete are skipped, and the
    /// rest is written in direct mode, whose per-chunk skips need no collective schedule.
    /// </summary>
    bool Resuming { get; }

    /// <summary>True: a failure stands in for a killed process (in process), so leave the temporary files and the journal as a kill would.</summary>
    bool KeepPartialOutputOnFailure { get; }

    /// <summary>Rank 0, before the output directory is checked: validate the journal against the plan and restore the interrupted state.</summary>
    void Prepare(Plan plan, OutputFiles outputs);

    /// <summary>Every rank, once the output directory has passed its checks: open (rank 0: start) the journal.</summary>
    void Open(int rank, Plan plan);

    /// <summary>
    /// Before a chunk is executed: true if the journal and the temporary file prove it complete, in which case its
    /// CRC runs are appended to <paramref name="report"/> and the chunk is skipped. <paramref name="buffer"/> is scratch.
    /// </summary>
    bool TryReuse(Chunk chunk, OutputFiles outputs, Span<byte> buffer, List<RunCrc> report);

    /// <summary>Just before a chunk's bytes are written.</summary>
    void BeforeWrite(Chunk chunk, OutputFiles outputs);

    /// <summary>After a chunk's bytes are written: record it with its CRC runs (the last <paramref name="runCount"/> of <paramref name="report"/>).</summary>
    void Completed(Chunk chunk, List<RunCrc> report, int runCount);

    /// <summary>Rank 0, in the commit, before output file <paramref name="file"/> is renamed to its final name.</summary>
    void BeforeRename(int file);

    /// <summary>The job failed cleanly on every rank and its temporary files are being removed: remove the journal too.</summary>
    void Discard(int rank);
}
