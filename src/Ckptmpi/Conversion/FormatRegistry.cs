using Ckptmpi.Errors;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Conversion;

/// <summary>
/// The readers (<c>--from</c>) and writers (<c>--to</c>) of <c>ckptmpi convert</c>, one line each: a new format is one line here.
/// A reader runs on rank 0 only and may do I/O; a writer is a pure function of the broadcast inputs that every
/// rank evaluates to the same layout.
/// </summary>
public static partial class FormatRegistry
{
    /// <summary>Reads the source's metadata: catalog, side files, input facts. Rank 0 only.</summary>
    public sealed record Reader(string Name, string Description, Func<ConvertRequest, JobInputs> Open);

    /// <summary>
    /// Describes every output file. <see cref="ConsumesEverything"/>: the target holds the whole model, so a source
    /// tensor it does not write is an error rather than silently dropped.
    /// </summary>
    public sealed record Writer(string Name, string Description, Func<JobInputs, ConvertRequest, OutputLayout> Layout, bool ConsumesEverything = true);

    public static IReadOnlyList<Reader> Readers => s_readers;

    public static IReadOnlyList<Writer> Writers => s_writers;

    private static readonly List<Reader> s_readers = [];
    private static readonly List<Writer> s_writers = [];

    /// <exception cref="UnsupportedCheckpointException">no reader of that name; the message lists the known ones.</exception>
    public static Reader ReaderFor(string name) =>
        s_readers.FirstOrDefault(r => r.Name == name)
        ?? throw new UnsupportedCheckpointException("--from", $"no reader for '{name}'; supported: {string.Join(", ", s_readers.Select(r => r.Name))}");

    /// <exception cref="UnsupportedCheckpointException">no writer of that name; the message lists the known ones.</exception>
    public static Writer WriterFor(string name) =>
        s_writers.FirstOrDefault(w => w.Name == name)
        ?? throw new UnsupportedCheckpointException("--to", $"no writer for '{name}'; supported: {string.Join(", ", s_writers.Select(w => w.Name))}");

    /// <summary>
    /// The reader for a checkpoint on disk, recognised by its marker files: a DeepSpeed <c>latest</c>, else safetensors.
    /// Null when neither is there.
    /// </summary>
    public static string? Probe(string path)
    {
        if (File.Exists(Path.Combine(path, "latest"))) return "zero";
        if (File.Exists(path) ? path.EndsWith(".safetensors", StringComparison.Ordinal) : Directory.Exists(path) && Directory.EnumerateFiles(path, "*.safetensors").Any()) return "hf";
        return null;
    }

    static FormatRegistry() => RegisterAll();

    private static void Register(Reader reader) => s_readers.Add(reader);

    private static void Register(Writer writer) => s_writers.Add(writer);
}
