using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;
using Ckptmpi.Conversion.Planning;

namespace Ckptmpi.Conversion.Manifests;

/// <summary>
/// <c>ckptmpi-manifest.json</c>, written by rank 0 after everything else: what made the checkpoint
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
        using (FileStream stream = Tensors.OwnFiles.CreateNew(tmp))
        {
            JsonSerializer.Serialize(stream, this, Json);
            stream.Flush(flushToDisk: true);
        }
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>The largest manifest read (a 405B checkpoint for dp 768 lists about 1,600 files: a few hundred KiB).</summary>
    public const int MaxBytes = 256 << 20;

    /// <exception cref="InvalidDataException">not a manifest.</exception>
    /// <exception cref="Errors.CheckpointFormatException">a FIFO or device, too large, or an output listed twice.</exception>
    public static Manifest Read(string outputDir)
    {
        string path = Path.Combine(outputDir, FileName);
        Manifest manifest = JsonSerializer.Deserialize<Manifest>(Tensors.InputFiles.ReadText(path, MaxBytes), Json)
                            ?? throw new InvalidDataException($"{path}: empty manifest");
        if (manifest.Outputs is null || manifest.Inputs is null || manifest.CommandLine is null)
            throw new InvalidDataException($"{path}: a manifest lists its inputs, outputs and command line");
        // Checked up front: every entry costs a full read in verify, so 200k copies of one big file would make a
        // verify of minutes into hours.
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (OutputChecksum o in manifest.Outputs)
        {
            if (o?.Path is null) throw new InvalidDataException($"{path}: an output entry without a path");
            if (!seen.Add(o.Path))
                throw new Errors.CheckpointFormatException(path, null, $"lists output '{Shorten(o.Path)}' more than once ({manifest.Outputs.Count} entries); a manifest ckptmpi wrote lists each file once");
        }
        return manifest;
    }

    private static string Shorten(string s) => s.Length > 120 ? s[..117] + "..." : s;
}
