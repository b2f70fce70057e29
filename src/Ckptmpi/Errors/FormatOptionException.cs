namespace Ckptmpi.Errors;

/// <summary>
/// A command-line option value a format refuses (a missing required option, a value out of range, an option for a
/// format that is not part of this conversion): a usage error, raised where the format knows its own options.
/// </summary>
public sealed class FormatOptionException : Exception
{
    public FormatOptionException(string option, string message) : base(message) => Option = option;

    /// <summary>The option at fault, e.g. <c>--dp-size</c>.</summary>
    public string Option { get; }
}
