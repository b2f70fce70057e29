namespace Ckptmpi.Parallel.SelfTest;

/// <summary>One named conformance check: a body every rank runs; it throws <see cref="CollectiveCheckFailedException"/> when a result is wrong.</summary>
public sealed record CollectiveCheck(string Name, Action<ICommunicator> Run)
{
    public override string ToString() => Name;
}
