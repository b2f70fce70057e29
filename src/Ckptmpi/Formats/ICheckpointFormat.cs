using System.CommandLine;

namespace Ckptmpi.Formats;

/// <summary>
/// One checkpoint format as a plug-in: its name on the command line, a reader and/or a writer, and the
/// command-line options it owns. Adding a format means a folder with one of these and one line in the registry.
/// </summary>
public interface ICheckpointFormat
{
    /// <summary>The <c>--from</c> / <c>--to</c> value, e.g. <c>hf</c>.</summary>
    string Name { get; }

    IFormatReader? Reader { get; }

    IFormatWriter? Writer { get; }

    /// <summary>The options this format adds to <c>ckptmpi convert</c>; names are unique across formats.</summary>
    IReadOnlyList<Option> Options { get; }

    /// <summary>
    /// Typed options from a parsed command line. Values are checked whatever the role, so a bad value is refused even
    /// when the format is not part of this conversion; requirements of a role (a writer's mandatory option) only for it.
    /// </summary>
    /// <exception cref="Errors.FormatOptionException">an option value this format refuses.</exception>
    FormatOptions Bind(ParseResult parse, FormatRole role);

    /// <summary>The options when none were given (tests, the demo, verify), optionally naming the checkpoint version to read (a ZeRO tag); formats without versions ignore it.</summary>
    FormatOptions Defaults(string? version = null);
}
