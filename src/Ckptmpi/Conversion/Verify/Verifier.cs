using Ckptmpi.Parallel;

namespace Ckptmpi.Conversion.Verify;

/// <summary>
/// <c>ckptmpi verify</c> as lists of readable problems, the same on every rank: a thin shell over
/// <see cref="FileVerifier"/> (files against the manifest) and <see cref="ValueVerifier"/> (values against the source).
/// </summary>
public static class Verifier
{
    /// <summary>Checks every file listed in the manifest of <paramref name="outputDir"/>, and that no other file is there.</summary>
    public static IReadOnlyList<string> CheckFiles(ICommunicator comm, string outputDir) =>
        FileVerifier.Run(comm, outputDir).Problems.Select(p => p.ToString()).ToList();

    /// <summary>
    /// Reads every canonical tensor from both checkpoints and compares them as the output stores them: bit for bit
    /// where the dtype is unchanged, and the source rounded to nearest even where it changed.
    /// </summary>
    public static IReadOnlyList<string> CheckValues(ICommunicator comm, string outputDir, string sourceDir) =>
        ValueVerifier.Run(comm, outputDir, sourceDir).Problems.Select(p => p.ToString()).ToList();
}
