namespace Ckptmpi.Conversion.Journal;

/// <summary><c>plan.json</c>: which plan the journal belongs to (a rerun with another plan must not reuse it).</summary>
public sealed record JournalPlan(string PlanHash, int Ranks, int Files, IReadOnlyList<string> CommandLine);
