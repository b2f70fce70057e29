using System.Globalization;
using System.Runtime.InteropServices;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Kernels;

namespace Ckptmpi.Tests.Tensors.Kernels;

public sealed class CastTests
{
    private static ushort[] All16BitPatterns() => Enumerable.Range(0, 65536).Select(i => (ushort)i).ToArray();

    private static byte[] Bytes<T>(T[] values) where T : struct => MemoryMarshal.AsBytes(values.AsSpan()).ToArray();

    private static T[] Run<T>(byte[] src, DType from, DType to) where T : struct
    {
        var dst = new byte[src.Length / from.SizeInBytes() * to.SizeInBytes()];
        Cast.Convert(src, from, dst, to);
        return MemoryMarshal.Cast<byte, T>(dst).ToArray();
    }

    /// <summary>fp32 bit patterns that stress rounding: every bf16/f16 neighbourhood, ties, NaN payloads, zeros, subnormals, random.</summary>
    private static uint[] F32Patterns(int seed, int random)
    {
        var list = new List<uint>();
        foreach (ushort hi in All16BitPatterns())
        {
            uint b = (uint)hi << 16;
            foreach (uint lo in new uint[] { 0, 1, 0x7FFF, 0x8000, 0x8001, 0xFFFF }) list.Add(b | lo);
        }
        // Every f16 value, and the ties and near-ties halfway to its upper neighbour (f32 has 13 spare mantissa bits).
        foreach (ushort h in All16BitPatterns())
        {
            uint f = BitConverter.SingleToUInt32Bits((float)BitConverter.UInt16BitsToHalf(h));
            foreach (uint d in new uint[] { 0, 1, 0xFFF, 0x1000, 0x1001, 0x1FFF }) list.Add(f + d);
        }
        list.AddRange([0x0000_0000, 0x8000_0000, 0x0000_0001, 0x8000_0001, 0x007F_FFFF, 0x7F7F_FFFF, 0xFF7F_FFFF,
            0x7F80_0000, 0xFF80_0000, 0x7F80_0001, 0x7FC0_0000, 0xFFC0_0001, 0x7FFF_FFFF, 0xFFBF_FFFF, 0x3380_0000, 0x3380_0001, 0x337F_FFFF]);
        var rng = new Random(seed);
        for (int i = 0; i < random; i++) list.Add((uint)rng.NextInt64(0, 1L << 32));
        return list.ToArray();
    }

    [Test]
    public void Bf16_to_f32_is_exact_for_all_65536_patterns()
    {
        ushort[] src = All16BitPatterns();
        float[] got = Run<float>(Bytes(src), DType.BF16, DType.F32);
        for (int i = 0; i < src.Length; i++)
            Assert.That(BitConverter.SingleToUInt32Bits(got[i]), Is.EqualTo((uint)src[i] << 16), $"bf16 0x{src[i]:x4}");
    }

    [Test]
    public void F16_to_f32_matches_System_Half_for_all_65536_patterns()
    {
        ushort[] src = All16BitPatterns();
        float[] got = Run<float>(Bytes(src), DType.F16, DType.F32);
        for (int i = 0; i < src.Length; i++)
        {
            float want = CastReference.F16ToF32(BitConverter.UInt16BitsToHalf(src[i]));
            Assert.That(BitConverter.SingleToUInt32Bits(got[i]), Is.EqualTo(BitConverter.SingleToUInt32Bits(want)), $"f16 0x{src[i]:x4}");
        }
    }

    [Test]
    public void F32_to_bf16_rounds_to_nearest_even_like_the_reference()
    {
        uint[] src = F32Patterns(seed: 1234, random: 1_000_000);
        ushort[] got = Run<ushort>(Bytes(src), DType.F32, DType.BF16);
        for (int i = 0; i < src.Length; i++)
        {
            if (got[i] != CastReference.F32BitsToBf16(src[i]))
                Assert.Fail($"f32 0x{src[i]:x8} -> bf16 0x{got[i]:x4}, reference 0x{CastReference.F32BitsToBf16(src[i]):x4}");
        }
    }

    [Test]
    public void F32_to_bf16_handles_ties_infinities_overflow_and_nan()
    {
        (uint In, ushort Out)[] cases =
        [
            (0x3F80_8000, 0x3F80), // tie, lower is even: down
            (0x3F81_8000, 0x3F82), // tie, lower is odd: up
            (0x3F80_8001, 0x3F81), // above the tie: up
            (0x7F7F_FFFF, 0x7F80), // largest finite rounds to +inf
            (0x7F80_0000, 0x7F80), (0xFF80_0000, 0xFF80),
            (0x8000_0000, 0x8000), (0x0000_0001, 0x0000),
            (0x7F80_0001, 0x7FC0), // signalling NaN becomes quiet NaN, never infinity
            (0xFFC1_2345, 0xFFC1), // sign and upper payload kept
        ];
        ushort[] got = Run<ushort>(Bytes(cases.Select(c => c.In).ToArray()), DType.F32, DType.BF16);
        Assert.That(got, Is.EqualTo(cases.Select(c => c.Out).ToArray()));
    }

    [Test]
    public void F32_to_f16_matches_System_Half_including_subnormals_and_ties()
    {
        uint[] src = F32Patterns(seed: 99, random: 1_000_000);
        ushort[] got = Run<ushort>(Bytes(src), DType.F32, DType.F16);
        for (int i = 0; i < src.Length; i++)
        {
            ushort want = BitConverter.HalfToUInt16Bits(CastReference.F32ToF16(BitConverter.UInt32BitsToSingle(src[i])));
            if (got[i] != want) Assert.Fail($"f32 0x{src[i]:x8} -> f16 0x{got[i]:x4}, System.Half 0x{want:x4}");
        }
    }

    [Test]
    public void Bf16_and_f16_convert_to_each_other_through_f32_with_one_rounding()
    {
        ushort[] src = All16BitPatterns();
        ushort[] toF16 = Run<ushort>(Bytes(src), DType.BF16, DType.F16);
        ushort[] toBf16 = Run<ushort>(Bytes(src), DType.F16, DType.BF16);
        for (int i = 0; i < src.Length; i++)
        {
            ushort a = BitConverter.HalfToUInt16Bits((Half)CastReference.Bf16ToF32(src[i]));
            ushort b = CastReference.F32ToBf16((float)BitConverter.UInt16BitsToHalf(src[i]));
            if (toF16[i] != a || toBf16[i] != b) Assert.Fail($"0x{src[i]:x4}: bf16->f16 0x{toF16[i]:x4} (want 0x{a:x4}), f16->bf16 0x{toBf16[i]:x4} (want 0x{b:x4})");
        }
    }

    [Test]
    public void F64_and_f32_convert_like_the_hardware_scalar_casts()
    {
        var rng = new Random(7);
        double[] d = Enumerable.Range(0, 100_003).Select(_ => BitConverter.Int64BitsToDouble(rng.NextInt64(long.MinValue, long.MaxValue)))
            .Concat([0.0, -0.0, double.NaN, double.PositiveInfinity, 1e-45, 3.4028235677973366e38, 1.0 + 1.0 / (1 << 24)]).ToArray();
        float[] f = Run<float>(Bytes(d), DType.F64, DType.F32);
        double[] back = Run<double>(Bytes(f), DType.F32, DType.F64);
        for (int i = 0; i < d.Length; i++)
        {
            Assert.That(BitConverter.SingleToUInt32Bits(f[i]), Is.EqualTo(BitConverter.SingleToUInt32Bits((float)d[i])), $"f64 {d[i]:R}");
            Assert.That(BitConverter.DoubleToInt64Bits(back[i]), Is.EqualTo(BitConverter.DoubleToInt64Bits(f[i])), $"f32 {f[i]:R}");
        }
    }

    [Test]
    public void Chunks_of_any_length_and_alignment_give_the_same_bytes_as_one_call()
    {
        var rng = new Random(42);
        float[] values = Enumerable.Range(0, 5000).Select(_ => (float)(rng.NextDouble() * 8 - 4)).ToArray();
        byte[] src = Bytes(values);
        byte[] whole = new byte[values.Length * 2];
        Cast.Convert(src, DType.F32, whole, DType.BF16);
        // Misaligned buffers (offset 1) and odd chunk sizes exercise the 512, 256 and scalar paths.
        byte[] srcOff = new byte[src.Length + 1], dstOff = new byte[whole.Length + 1];
        src.CopyTo(srcOff, 1);
        int at = 0;
        while (at < values.Length)
        {
            int k = Math.Min(values.Length - at, rng.Next(1, 97));
            Cast.Convert(srcOff.AsSpan(1 + at * 4, k * 4), DType.F32, dstOff.AsSpan(1 + at * 2, k * 2), DType.BF16);
            at += k;
        }
        Assert.That(dstOff.AsSpan(1).ToArray(), Is.EqualTo(whole));
    }

    [Test]
    public void Same_dtype_is_a_plain_copy()
    {
        byte[] src = Enumerable.Range(0, 24).Select(i => (byte)(i * 37)).ToArray();
        Assert.That(Run<byte>(src, DType.I64, DType.I64), Is.EqualTo(src));
    }

    [Test]
    public void Bad_arguments_are_rejected_with_what_was_wrong()
    {
        Assert.That(() => Cast.Convert(new byte[3], DType.F16, new byte[4], DType.F32), Throws.ArgumentException.With.Message.Contains("whole number"));
        Assert.That(() => Cast.Convert(new byte[4], DType.F16, new byte[4], DType.F32), Throws.ArgumentException.With.Message.Contains("need 8"));
        Assert.That(() => Cast.Convert(new byte[8], DType.F64, new byte[2], DType.BF16), Throws.ArgumentException.With.Message.Contains("no cast"));
        Assert.That(Cast.IsSupported(DType.I32, DType.F32), Is.False);
    }

    [Test]
    public void Rounding_to_bf16_and_f16_agrees_with_torch_for_random_finite_values()
    {
        var rng = new Random(2024);
        uint[] src = Enumerable.Range(0, 200_000).Select(_ => (uint)rng.NextInt64(0, 1L << 32))
            .Where(u => (u & 0x7F80_0000) != 0x7F80_0000).ToArray(); // torch's NaN choice for bf16 differs by path (see Cast)
        string dir = TestPaths.NewTempDir();
        string input = Path.Combine(dir, "f32.bin");
        File.WriteAllBytes(input, Bytes(src));
        string output = TestPaths.RunPython("""
            import sys, torch
            x = torch.frombuffer(bytearray(open(sys.argv[1], 'rb').read()), dtype=torch.float32)
            open(sys.argv[2], 'wb').write(x.to(torch.bfloat16).view(torch.int16).numpy().tobytes() + x.to(torch.float16).view(torch.int16).numpy().tobytes())
            """, input, Path.Combine(dir, "out.bin"));
        byte[] torch = File.ReadAllBytes(Path.Combine(dir, "out.bin"));
        byte[] bf = new byte[src.Length * 2], f16 = new byte[src.Length * 2];
        Cast.Convert(Bytes(src), DType.F32, bf, DType.BF16);
        Cast.Convert(Bytes(src), DType.F32, f16, DType.F16);
        Assert.That(bf, Is.EqualTo(torch[..bf.Length]), "bf16");
        Assert.That(f16, Is.EqualTo(torch[bf.Length..]), "f16");
        Directory.Delete(dir, true);
    }
}
