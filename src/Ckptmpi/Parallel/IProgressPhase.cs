namespace Ckptmpi.Parallel;

/// <summary>One running phase; thread-safe.</summary>
public interface IProgressPhase : IDisposable
{
    /// <summary>Adds <paramref name="done"/> units to the completed amount.</summary>
    void Advance(long done);
}
