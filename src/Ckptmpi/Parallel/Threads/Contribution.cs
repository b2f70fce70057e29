namespace Ckptmpi.Parallel.Threads;

/// <summary>
/// What one rank brings to a collective of the in-process world: the operation (so that mismatched calls are
/// caught), its buffers, and copies of its count arrays and reduction inputs. Published in the world's slot
/// for that rank between the two barriers of the collective.
/// </summary>
internal readonly record struct Contribution(
    string Operation,
    int Root = -1,
    NativeBuffer Send = default,
    NativeBuffer Receive = default,
    long[]? SendCounts = null,
    long[]? SendDisplacements = null,
    long[]? ReceiveCounts = null,
    long[]? ReceiveDisplacements = null,
    long[]? Longs = null,
    double[]? Doubles = null,
    ReduceOp ReduceOp = ReduceOp.Sum)
{
    public override string ToString() => Root >= 0 ? $"{Operation}(root {Root})" : Operation;
}
