using Ckptmpi.Tensors;

namespace Ckptmpi.Conversion.Manifests;

/// <summary>
/// An input file as the manifest and the resume journal record it: path, size, modification time, the CRC-32 of its
/// first bytes (its header) and the CRC-32 of a few samples spread over the rest (cheap evidence of its values).
/// </summary>
public sealed record InputFileFact(string Path, long Size, DateTime ModifiedUtc, string HeaderChecksum, string? SampleChecksum = null)
{
    /// <summary>How much of each input file's start the header checksum covers.</summary>
    public const int HeaderBytes = 1 << 20;

    /// <summary>The samples: <see cref="SampleCount"/> runs of <see cref="SampleBytes"/> at evenly spaced offsets after the header.</summary>
    public const int SampleCount = 16, SampleBytes = 4096;

    public const string HeaderAlgorithm = "crc32 of the first 1 MiB; samples: crc32 of 16 x 4 KiB evenly spaced after it";

    public static InputFileFact Of(string path)
    {
        var info = new FileInfo(path);
        using var source = new FileByteSource(path);
        var head = new byte[(int)Math.Min(HeaderBytes, source.Length)];
        source.ReadExactly(0, head);
        return new InputFileFact(System.IO.Path.GetFullPath(path), info.Length, info.LastWriteTimeUtc, Tensors.Checksums.Crc32.Hash(head).ToString("x8"),
                                 Samples(source).ToString("x8"));
    }

    private static uint Samples(FileByteSource source)
    {
        uint crc = 0;
        long rest = source.Length - HeaderBytes;
        if (rest <= 0) return crc;
        var buffer = new byte[(int)Math.Min(SampleBytes, rest)];
        for (int i = 0; i < SampleCount; i++)
        {
            long offset = HeaderBytes + (rest - buffer.Length) * i / Math.Max(1, SampleCount - 1);
            source.ReadExactly(offset, buffer);
            crc = Tensors.Checksums.Crc32.Append(crc, buffer);
        }
        return crc;
    }
}
