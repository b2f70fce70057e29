namespace Ckptmpi.Parallel.SelfTest;

/// <summary>A conformance check saw a wrong result (which rank, which check, expected versus actual).</summary>
public sealed class CollectiveCheckFailedException(string message) : Exception(message);
