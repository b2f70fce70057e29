namespace Ckptmpi.Parallel;

/// <summary>Reports nothing: ranks other than 0, tests, and --quiet runs.</summary>
public sealed class NullProgressReporter : IProgressReporter, IProgressPhase
{
    public static NullProgressReporter Instance { get; } = new();

    public IProgressPhase BeginPhase(string name, long total) => this;

    public void Advance(long done) { }

    public void Dispose() { }
}
