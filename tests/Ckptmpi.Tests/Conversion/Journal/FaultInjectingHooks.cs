using Ckptmpi.Conversion.Execution;
using Ckptmpi.Conversion.Planning;

namespace Ckptmpi.Tests.Conversion.Journal;

/// <summary>
/// Wraps a rank's execution hooks (the resume journal) and injects <see cref="InjectedFaults"/> at the points the
/// executor reports: a "kill" throws <see cref="InjectedCrashException"/> and asks the executor to leave the
/// temporary files and journal behind, as a killed process does.
/// </summary>
internal sealed class FaultInjectingHooks(IExecutionHooks inner, InjectedFaults faults) : IExecutionHooks
{
    private int _rank = -1;
    private int _journaled;
    private int _renamed;
    private long _bytesWritten;

    public bool Resuming => inner.Resuming;

    public bool KeepPartialOutputOnFailure => faults.SimulatesCrash;

    public void Prepare(Plan plan, OutputFiles outputs) => inner.Prepare(plan, outputs);

    public void Open(int rank, Plan plan)
    {
        _rank = rank;
        inner.Open(rank, plan);
    }

    public bool TryReuse(Chunk chunk, OutputFiles outputs, Span<byte> buffer, List<RunCrc> report) => inner.TryReuse(chunk, outputs, buffer, report);

    public void BeforeWrite(Chunk chunk, OutputFiles outputs)
    {
        if (faults.FailWriteAfterBytes is long limit && _rank == faults.FailRank && _bytesWritten + chunk.Length > limit)
            throw new IOException($"{outputs.TempPath(chunk.File)}: No space left on device (injected after {limit} bytes)");
        _bytesWritten += chunk.Length;
        if (!faults.KillUnjournaled) MaybeDie();
        inner.BeforeWrite(chunk, outputs);
    }

    public void Completed(Chunk chunk, List<RunCrc> report, int runCount)
    {
        if (faults.KillUnjournaled) MaybeDie();
        inner.Completed(chunk, report, runCount);
        _journaled++;
    }

    public void BeforeRename(int file)
    {
        if (faults.KillInCommitAfterRenames is int n && _renamed++ == n)
            throw new InjectedCrashException($"injected kill: rank 0 dies in the commit after {n} renames");
        inner.BeforeRename(file);
    }

    public void Discard(int rank) => inner.Discard(rank);

    private void MaybeDie()
    {
        if (faults.KillAfterPieces is int n && _rank == faults.KillRank && _journaled == n)
            throw new InjectedCrashException($"injected kill: rank {_rank} dies after journaling {n} pieces{(faults.KillUnjournaled ? ", with a written but unjournaled piece" : "")}");
    }
}
