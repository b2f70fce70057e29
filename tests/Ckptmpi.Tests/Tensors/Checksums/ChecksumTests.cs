using Ckptmpi.Tensors.Checksums;

namespace Ckptmpi.Tests.Tensors.Checksums;

public sealed class ChecksumTests
{
    // Lengths around the 16-, 64- and 256-byte folding boundaries, plus a large one.
    private static readonly int[] Lengths = [0, 1, 3, 4, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 200, 255, 256, 257, 272, 320, 336, 511, 512, 528, 1000, 4096, 65_537, 1_000_003];

    private static (byte[] Data, uint[] Crc) ReferenceValues()
    {
        var rng = new Random(31337);
        byte[] data = new byte[Lengths.Max()];
        rng.NextBytes(data);
        string dir = TestPaths.NewTempDir("checksums");
        string file = Path.Combine(dir, "data.bin");
        File.WriteAllBytes(file, data);
        // zlib is the CRC-32 reference.
        string output = TestPaths.RunPython("""
            import sys, zlib
            data = open(sys.argv[1], 'rb').read()
            for n in map(int, sys.argv[2].split(',')):
                print(zlib.crc32(data[:n]))
            """, file, string.Join(",", Lengths));
        Directory.Delete(dir, true);
        return (data, output.Trim().Split('\n').Select(uint.Parse).ToArray());
    }

    [Test]
    public void Crc32_equals_zlib_at_every_boundary_length()
    {
        (byte[] data, uint[] crc) = ReferenceValues();
        for (int i = 0; i < Lengths.Length; i++)
        {
            ReadOnlySpan<byte> d = data.AsSpan(0, Lengths[i]);
            Assert.That(Crc32.Hash(d), Is.EqualTo(crc[i]), $"crc32 of {Lengths[i]} bytes");
        }
    }

    [Test]
    public void Streaming_in_random_pieces_gives_the_one_shot_value()
    {
        var rng = new Random(5);
        byte[] data = new byte[300_001];
        rng.NextBytes(data);
        var crc = new Crc32();
        int at = 0;
        while (at < data.Length)
        {
            int k = Math.Min(data.Length - at, rng.Next(0, 300));
            crc.Append(data.AsSpan(at, k));
            at += k;
        }
        Assert.That(crc.GetCurrentHashAsUInt32(), Is.EqualTo(Crc32.Hash(data)));
        Assert.That(crc.Length, Is.EqualTo(data.Length));
    }

    [Test]
    public void Crc32_of_a_file_is_assembled_from_pieces_hashed_separately()
    {
        var rng = new Random(11);
        byte[] data = new byte[100_000];
        rng.NextBytes(data);
        foreach (int cut in new[] { 0, 1, 15, 64, 4097, 99_999, 100_000 })
        {
            uint a = Crc32.Hash(data.AsSpan(0, cut)), b = Crc32.Hash(data.AsSpan(cut));
            Assert.That(Crc32.Combine(a, b, data.Length - cut), Is.EqualTo(Crc32.Hash(data)), $"cut at {cut}");
        }
        Assert.That(Crc32.Append(Crc32.Hash(data.AsSpan(0, 777)), data.AsSpan(777)), Is.EqualTo(Crc32.Hash(data)));
    }

    [Test]
    public void Known_check_values_hold()
    {
        byte[] check = "123456789"u8.ToArray();
        Assert.That(Crc32.Hash(check), Is.EqualTo(0xCBF43926u)); // the CRC-32/ISO-HDLC check value
    }
}
