namespace Ckptmpi.Conversion.Planning;

/// <summary>Everything one rank writes, in the order it writes it.</summary>
public sealed record RankPlan(int Rank, IReadOnlyList<WorkItem> Items)
{
    public long BytesWritten => Items.Sum(i => i.BytesWritten);

    public long BytesRead => Items.Sum(i => i.BytesRead);

    public int PeakBuffer => Items.Count == 0 ? 0 : Items.Max(i => i.PeakBuffer);

    public int FileCount => Items.Select(i => i.File).Concat(Items.SelectMany(i => i.Chunks).SelectMany(c => c.Companions).Select(c => c.File)).Distinct().Count();
}
