namespace Ckptmpi.Conversion;

public static partial class FormatRegistry
{
    /// <summary>One line per format direction.</summary>
    private static void RegisterAll()
    {
    }
}
