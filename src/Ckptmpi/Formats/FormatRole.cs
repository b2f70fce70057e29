namespace Ckptmpi.Formats;

/// <summary>What a conversion asks of a format: read the source (<c>--from</c>), write the target (<c>--to</c>), both, or nothing.</summary>
[Flags]
public enum FormatRole
{
    None = 0,
    Read = 1,
    Write = 2,
}
