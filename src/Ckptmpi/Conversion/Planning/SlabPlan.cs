namespace Ckptmpi.Conversion.Planning;

/// <summary>
/// What one box of a view record needs: reads into staging and gathers from staging, both with offsets relative to
/// the start of the record's staging, and how many staging bytes that is.
/// </summary>
internal sealed record SlabPlan(List<SourceRead> Reads, List<GatherOp> Gathers, int StagingBytes);
