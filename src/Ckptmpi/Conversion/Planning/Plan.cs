using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Conversion.Planning;

/// <summary>
/// The complete, deterministic division of an <see cref="OutputLayout"/> into per-rank work: which rank writes
/// which byte range of which file, in which buffer-sized chunks, reading which source byte ranges. Every rank
/// builds the same plan from the same metadata and proves it with <see cref="Hash"/>. Built only by <see cref="Planner"/>.
/// </summary>
public sealed class Plan
{
    internal Plan(OutputLayout layout, IReadOnlyList<string> sources, int chunkBytes, IReadOnlyList<RankPlan> ranks,
                  IReadOnlyList<WorkItem> commitItems, IReadOnlyList<int> fileOwners, IReadOnlyList<CrcSlot>[] slots, string hash)
    {
        Layout = layout;
        Sources = sources;
        ChunkBytes = chunkBytes;
        Ranks = ranks;
        CommitItems = commitItems;
        FileOwners = fileOwners;
        Slots = slots;
        Hash = hash;
    }

    public OutputLayout Layout { get; }

    public IReadOnlyList<OutputFile> Files => Layout.Files;

    /// <summary>Source files read by the plan, relative to the catalog root; <see cref="SourceRead.Source"/> indexes this list.</summary>
    public IReadOnlyList<string> Sources { get; }

    public int RankCount => Ranks.Count;

    /// <summary>The chunk budget the plan was cut for (<see cref="BufferBudget.ChunkBytes"/>): no chunk touches more of its buffer.</summary>
    public int ChunkBytes { get; }

    public IReadOnlyList<RankPlan> Ranks { get; }

    /// <summary>Whole commit-marker files (DeepSpeed <c>latest</c>, the HF index): written by rank 0 after every other file is renamed.</summary>
    public IReadOnlyList<WorkItem> CommitItems { get; }

    /// <summary>For each file, the rank that creates its temporary file (the writer of its first byte); -1 for commit markers (rank 0, at the end).</summary>
    public IReadOnlyList<int> FileOwners { get; }

    /// <summary>For each file, the 4-byte CRC slots to patch once all ranks have reported their CRC runs.</summary>
    internal IReadOnlyList<CrcSlot>[] Slots { get; }

    /// <summary>SHA-256 (hex) of everything that determines the bytes written; equal on every rank or the job stops.</summary>
    public string Hash { get; }

    public PlanSummary Summarize() => PlanSummary.Of(this);
}

/// <summary>A 4-byte little-endian CRC placeholder at <see cref="Offset"/> that receives the CRC of field <see cref="Field"/>.</summary>
internal readonly record struct CrcSlot(long Offset, int Field);
