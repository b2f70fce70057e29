using Ckptmpi.Conversion.Planning;

namespace Ckptmpi.Conversion.Execution;

/// <summary>
/// Who sends what in <c>--io aggregate</c>, derived from the plan alone so every rank knows every rank's traffic
/// without asking. Each source file has one owner rank (LPT by bytes read). Round k serves every rank's k-th chunk:
/// the reads of that chunk are laid out in the writer's receive area ordered by (owner, file, offset), and each
/// owner sends its requests, read in file order, in steps of at most <see cref="SendBytes"/> bytes.
/// </summary>
internal sealed class AggregateSchedule
{
    private readonly Plan _plan;
    private readonly Chunk[][] _chunks;

    public AggregateSchedule(Plan plan, int sendBytes)
    {
        _plan = plan;
        SendBytes = sendBytes;
        _chunks = plan.Ranks.Select(r => r.Items.SelectMany(i => i.Chunks).ToArray()).ToArray();
        Rounds = _chunks.Max(c => c.Length);
        Owners = AssignOwners(plan);
        ReceiveBytes = _chunks.SelectMany(c => c).Select(c => c.Reads.Sum(r => r.TotalBytes)).DefaultIfEmpty(0).Max();
    }

    public int Rounds { get; }

    public int SendBytes { get; }

    /// <summary>The largest receive area any rank needs in any round.</summary>
    public int ReceiveBytes { get; }

    /// <summary>Owner rank of each source file.</summary>
    public int[] Owners { get; }

    public Chunk? ChunkOf(int rank, int round) => round < _chunks[rank].Length ? _chunks[rank][round] : null;

    /// <summary>
    /// The transfers of round <paramref name="round"/>, grouped into steps (one Alltoallv each). Within a step, an
    /// owner's transfers to one destination are contiguous in its send buffer and in the destination's receive area.
    /// </summary>
    public List<List<Transfer>> Steps(int round)
    {
        int ranks = _plan.RankCount;
        var perOwner = new List<Transfer>[ranks];
        for (int o = 0; o < ranks; o++) perOwner[o] = [];
        for (int dest = 0; dest < ranks; dest++)
        {
            Chunk? chunk = ChunkOf(dest, round);
            if (chunk is null) continue;
            int at = 0;
            foreach (SourceRead r in chunk.Reads.OrderBy(r => Owners[r.Source]).ThenBy(r => r.Source).ThenBy(r => r.SourceOffset))
            {
                // A strided read is one transfer per block, packed in the receive area as the read packs them.
                for (int i = 0; i < r.Count; i++)
                {
                    perOwner[Owners[r.Source]].Add(new Transfer(Owners[r.Source], dest, r.Source, r.SourceOffset + i * r.Stride, r.Length, at));
                    at += r.Length;
                }
            }
        }

        var steps = new List<List<Transfer>>();
        for (int o = 0; o < ranks; o++)
        {
            int step = 0, used = 0;
            foreach (Transfer t0 in perOwner[o])
            {
                Transfer t = t0;
                while (t.Length > 0)
                {
                    if (used == SendBytes) { step++; used = 0; }
                    int n = Math.Min(t.Length, SendBytes - used);
                    while (steps.Count <= step) steps.Add([]);
                    steps[step].Add(t with { Length = n });
                    used += n;
                    t = t with { SourceOffset = t.SourceOffset + n, Length = t.Length - n, ReceiveOffset = t.ReceiveOffset + n };
                }
            }
        }
        return steps;
    }

    private static int[] AssignOwners(Plan plan)
    {
        var bytes = new long[plan.Sources.Count];
        foreach (Chunk c in plan.Ranks.SelectMany(r => r.Items).SelectMany(i => i.Chunks))
        foreach (SourceRead r in c.Reads)
            bytes[r.Source] += r.TotalBytes;
        var owners = new int[bytes.Length];
        var load = new long[plan.RankCount];
        foreach (int s in Enumerable.Range(0, bytes.Length).OrderByDescending(s => bytes[s]).ThenBy(s => s))
        {
            int best = 0;
            for (int r = 1; r < load.Length; r++)
            {
                if (load[r] < load[best]) best = r;
            }
            owners[s] = best;
            load[best] += bytes[s];
        }
        return owners;
    }
}

/// <summary><see cref="Length"/> bytes of source <see cref="Source"/> at <see cref="SourceOffset"/>, read by <see cref="Owner"/>, landing at <see cref="ReceiveOffset"/> of <see cref="Destination"/>'s receive area.</summary>
internal readonly record struct Transfer(int Owner, int Destination, int Source, long SourceOffset, int Length, int ReceiveOffset);
