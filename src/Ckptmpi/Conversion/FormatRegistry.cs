using Ckptmpi.Errors;
using Ckptmpi.Formats;
using Ckptmpi.Formats.DeepSpeed;
using Ckptmpi.Formats.MaxText;
using Ckptmpi.Formats.Meta;
using Ckptmpi.Formats.NxD;
using Ckptmpi.Formats.MegaDs;
using Ckptmpi.Formats.Safetensors;
using Ckptmpi.Formats.Universal;

namespace Ckptmpi.Conversion;

/// <summary>
/// Every checkpoint format ckptmpi converts, one line each: the CLI and <see cref="ConversionJob"/> know formats only
/// through this list. It lives in Conversion, the layer that composes formats, because it names every format folder:
/// in the Formats root it would make the plug-in contract there depend on the folders that implement it.
/// </summary>
public static class FormatRegistry
{
    /// <summary>The registered formats, in the order <c>--help</c> lists them.</summary>
    public static IReadOnlyList<ICheckpointFormat> All { get; } =
    [
        new HfFormat(),
        new ZeroFormat(),
        new MaxTextFormat(),
        new MetaFormat(),
        new NxdFormat(),
        new MegaDsFormat(),
        new UniversalFormat(),
    ];

    public static IEnumerable<ICheckpointFormat> Readers => All.Where(f => f.Reader is not null);

    public static IEnumerable<ICheckpointFormat> Writers => All.Where(f => f.Writer is not null);

    /// <exception cref="UnsupportedCheckpointException">no reader of that name; the message lists the known ones.</exception>
    public static ICheckpointFormat ReaderFor(string name) =>
        Readers.FirstOrDefault(f => f.Name == name)
        ?? throw new UnsupportedCheckpointException("--from", $"no reader for '{name}'; supported: {Names(Readers)}");

    /// <exception cref="UnsupportedCheckpointException">no writer of that name; the message lists the known ones.</exception>
    public static ICheckpointFormat WriterFor(string name) =>
        Writers.FirstOrDefault(f => f.Name == name)
        ?? throw new UnsupportedCheckpointException("--to", $"no writer for '{name}'; supported: {Names(Writers)}");

    /// <summary>The options of <paramref name="format"/> in <paramref name="request"/>, else the format's defaults.</summary>
    public static FormatOptions OptionsFor(ConvertRequest request, ICheckpointFormat format) =>
        request.FormatOptions.FirstOrDefault(o => o.Format == format.Name) ?? format.Defaults();

    /// <summary>Every reader that recognises <paramref name="path"/>, with what it says the input is.</summary>
    public static IReadOnlyList<(ICheckpointFormat Format, string What)> Probe(string path) =>
        Readers.Select(f => (Format: f, What: f.Reader!.Probe(path))).Where(x => x.What is not null).Select(x => (x.Format, x.What!)).ToList();

    /// <summary>The one reader that recognises <paramref name="path"/>, for a <c>convert</c> without <c>--from</c>.</summary>
    /// <exception cref="FileNotFoundException">nothing at <paramref name="path"/>.</exception>
    /// <exception cref="UnsupportedCheckpointException">no reader, or more than one, recognises it; the message lists the known formats.</exception>
    public static (ICheckpointFormat Format, string What) Detect(string path)
    {
        if (!File.Exists(path) && !Directory.Exists(path)) throw new FileNotFoundException($"--input {path}: no such file or directory", path);
        var found = Probe(path);
        string known = string.Join("; ", Readers.Select(f => $"{f.Name}: {f.Reader!.Description}"));
        return found.Count switch
        {
            1 => found[0],
            0 => throw new UnsupportedCheckpointException(path, $"not a checkpoint any reader recognises; pass --from (known formats: {known})"),
            _ => throw new UnsupportedCheckpointException(path, $"ambiguous input: it looks like {string.Join(" and like ", found.Select(f => $"{f.What} (--from {f.Format.Name})"))}; pass --from to choose (known formats: {known})"),
        };
    }

    private static string Names(IEnumerable<ICheckpointFormat> formats) => string.Join(", ", formats.Select(f => f.Name));
}
