using Ckptmpi.Conversion.Manifests;
namespace Ckptmpi.Conversion.Journal;

/// <summary>
/// <c>plan.json</c>: which plan the journal belongs to (a rerun with another plan must not reuse it) and the identity
/// of every input file it was computed from (a rerun over re-saved inputs must not reuse pieces of the old values).
/// </summary>
public sealed record JournalPlan(string PlanHash, int Ranks, int Files, IReadOnlyList<string> CommandLine, IReadOnlyList<InputFileFact>? Inputs);
