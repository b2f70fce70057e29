using Ckptmpi.Tensors;

namespace Ckptmpi.Conversion.Manifests;

/// <summary>An input file as the manifest records it: path, size, modification time and the CRC-32 of its first bytes (its header).</summary>
public sealed record InputFileFact(string Path, long Size, DateTime ModifiedUtc, string HeaderChecksum)
{
    /// <summary>How much of each input file's start the header checksum covers.</summary>
    public const int HeaderBytes = 1 << 20;

    public const string HeaderAlgorithm = "crc32 of the first 1 MiB";

    public static InputFileFact Of(string path)
    {
        var info = new FileInfo(path);
        using var source = new FileByteSource(path);
        var head = new byte[(int)Math.Min(HeaderBytes, source.Length)];
        source.ReadExactly(0, head);
        return new InputFileFact(System.IO.Path.GetFullPath(path), info.Length, info.LastWriteTimeUtc, Tensors.Checksums.Crc32.Hash(head).ToString("x8"));
    }
}
