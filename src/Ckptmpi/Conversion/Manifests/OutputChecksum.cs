namespace Ckptmpi.Conversion.Manifests;

/// <summary>One committed output file: path relative to the output directory, size, and its checksum (<see cref="Manifest.OutputChecksumAlgorithm"/>, hex).</summary>
public sealed record OutputChecksum(string Path, long Size, string Checksum);
