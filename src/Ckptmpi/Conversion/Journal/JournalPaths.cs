namespace Ckptmpi.Conversion.Journal;

/// <summary>
/// Where the resume journal lives: <c>OUT/.ckptmpi-journal/</c> with <c>plan.json</c> (the plan hash of the run that
/// created it, written by rank 0 before any output) and one <c>rank-NNNNN.jsonl</c> per rank. The directory exists
/// only while a conversion is unfinished: it is removed once the manifest is written, or when the job fails cleanly.
/// </summary>
public static class JournalPaths
{
    public const string DirectoryName = ".ckptmpi-journal";

    public const string PlanFileName = "plan.json";

    public static string Directory(string outputDir) => Path.Combine(outputDir, DirectoryName);

    public static string PlanFile(string outputDir) => Path.Combine(outputDir, DirectoryName, PlanFileName);

    public static string RankFile(string outputDir, int rank) => Path.Combine(outputDir, DirectoryName, $"rank-{rank:D5}.jsonl");
}
