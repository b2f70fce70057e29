namespace Ckptmpi.Conversion.Planning;

/// <summary>Everything one rank writes, in the order it writes it.</summary>
public sealed record RankPlan(int Rank, IReadOnlyList<WorkItem> Items)
{
    public long BytesWritten => Items.Sum(i => i.Range.Length);

    public long BytesRead => Items.Sum(i => i.BytesRead);

    public int PeakBuffer => Items.Count == 0 ? 0 : Items.Max(i => i.PeakBuffer);

    public int FileCount => Items.Select(i => i.File).Distinct().Count();
}
