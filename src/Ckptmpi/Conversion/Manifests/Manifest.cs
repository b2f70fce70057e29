using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;
using Ckptmpi.Conversion.Planning;

namespace Ckptmpi.Conversion.Manifests;

/// <summary>
/// <c>ckptmpi-manifest.json</c>, written by rank 0 after everything else (issue #7): what made the checkpoint
/// (tool version, command line), from what (inputs with size, mtime, header checksum), what it holds (every
/// output file with size and CRC-32) and how (plan summary, wall time). Its presence means the checkpoint is complete.
/// </summary>
public sealed record Manifest
{
    public const string FileName = "ckptmpi-manifest.json";

    /// <summary>How every output file's <see cref="OutputChecksum.Checksum"/> is computed.</summary>
    public const string OutputChecksumAlgorithm = "crc32";

    public string Tool { get; init; } = "ckptmpi";
    public required string Version { get; init; }
    public required IReadOnlyList<string> CommandLine { get; init; }
    public required DateTime CreatedUtc { get; init; }
    public required string From { get; init; }
    public required string To { get; init; }
    public required string Io { get; init; }
    public string InputHeaderChecksumAlgorithm { get; init; } = InputFileFact.HeaderAlgorithm;
    public required IReadOnlyList<InputFileFact> Inputs { get; init; }
    public string ChecksumAlgorithm { get; init; } = OutputChecksumAlgorithm;
    public required IReadOnlyList<OutputChecksum> Outputs { get; init; }
    public required PlanSummary Plan { get; init; }
    public required double WallSeconds { get; init; }

    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter() },
    };

    public static string ToolVersion =>
        typeof(Manifest).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";

    /// <summary>Writes the manifest through a temporary file, synced, then renamed: it appears whole or not at all.</summary>
    public void Write(string outputDir)
    {
        string path = Path.Combine(outputDir, FileName);
        string tmp = path + ".tmp";
        using (var stream = new FileStream(tmp, FileMode.Create, FileAccess.Write))
        {
            JsonSerializer.Serialize(stream, this, Json);
            stream.Flush(flushToDisk: true);
        }
        File.Move(tmp, path, overwrite: true);
    }

    /// <exception cref="InvalidDataException">not a manifest.</exception>
    public static Manifest Read(string outputDir)
    {
        string path = Path.Combine(outputDir, FileName);
        return JsonSerializer.Deserialize<Manifest>(File.ReadAllBytes(path), Json) ?? throw new InvalidDataException($"{path}: empty manifest");
    }
}
