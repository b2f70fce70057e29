namespace Ckptmpi.Parallel.Threads;

/// <summary>Thrown in a rank whose wait ended because another rank failed first; Run reports that failure instead.</summary>
internal sealed class WorldStoppedException(int rank, Exception cause)
    : Exception($"rank {rank} stopped because another rank failed: {cause.Message}", cause);
