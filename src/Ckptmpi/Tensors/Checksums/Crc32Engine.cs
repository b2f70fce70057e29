using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Ckptmpi.Tensors.Checksums;

/// <summary>
/// The arithmetic behind <see cref="Crc32"/>, on the pre-inverted register: slice-by-8 tables, the PCLMULQDQ
/// folding loop of Intel's "Fast CRC Computation Using PCLMULQDQ" (constants as in zlib/Chromium's
/// crc32_simd.c and Linux's crc32-pclmul), and GF(2) polynomial products for combining.
/// </summary>
internal static class Crc32Engine
{
    public const uint Polynomial = 0xEDB8_8320; // reflected x^32 + x^26 + ... + 1

    // Folding constants, each x^k mod P bit-reflected (k1/k2 fold 512 bits, k3/k4 fold 128, k5 reduces 96 -> 64),
    // then the Barrett pair: P' (the polynomial with x^32) and mu = floor(x^64 / P), both reflected.
    private const ulong K1 = 0x0154442bd4, K2 = 0x01c6e41596;
    private const ulong K3 = 0x01751997d0, K4 = 0x00ccaa009e;
    private const ulong K5 = 0x0163cd6124;
    private const ulong PolyPrime = 0x01db710641, Mu = 0x01f7011641;
    // VPCLMULQDQ: four 512-bit accumulators fold across 4 * 512 bits (x^2080, x^2016), one across 512 (= K1/K2).
    private const ulong K2048Hi = 0x011542778a, K2048Lo = 0x01322d1430;

    private const int FoldBlock = 64; // the folding loop eats four 16-byte lanes at a time
    private const int WideFoldBlock = 256; // the VPCLMULQDQ loop eats four 64-byte vectors at a time

    private static readonly uint[] Table = BuildSliceBy8();

    // x^(2^k) mod P for k = 0..31, for Combine's square-and-multiply.
    private static readonly uint[] XPow2N = BuildXPow2N();

    public static uint Update(uint register, ReadOnlySpan<byte> data)
    {
        if (Pclmulqdq.IsSupported && Sse41.IsSupported && data.Length >= FoldBlock)
        {
            int bulk = data.Length & ~15;
            register = FoldPclmul(register, data[..bulk]);
            data = data[bulk..];
        }
        return SliceBy8(register, data);
    }

    private static uint SliceBy8(uint c, ReadOnlySpan<byte> data)
    {
        uint[] t = Table;
        while (data.Length >= 8)
        {
            uint lo = MemoryMarshal.Read<uint>(data) ^ c;
            uint hi = MemoryMarshal.Read<uint>(data[4..]);
            c = t[7 * 256 + (lo & 0xFF)] ^ t[6 * 256 + ((lo >> 8) & 0xFF)] ^ t[5 * 256 + ((lo >> 16) & 0xFF)] ^ t[4 * 256 + (lo >> 24)]
              ^ t[3 * 256 + (hi & 0xFF)] ^ t[2 * 256 + ((hi >> 8) & 0xFF)] ^ t[1 * 256 + ((hi >> 16) & 0xFF)] ^ t[hi >> 24];
            data = data[8..];
        }
        foreach (byte b in data) c = t[(c ^ b) & 0xFF] ^ (c >> 8);
        return c;
    }

    // data.Length >= 64 and a multiple of 16.
    private static uint FoldPclmul(uint c, ReadOnlySpan<byte> data)
    {
        ref byte p = ref MemoryMarshal.GetReference(data);
        nuint len = (nuint)data.Length, at;
        Vector128<ulong> k = Vector128.Create(K3, K4);
        Vector128<ulong> x1;
        if (Pclmulqdq.V512.IsSupported && len >= WideFoldBlock)
        {
            x1 = FoldWide(c, ref p, len, out at);
        }
        else
        {
            x1 = Load(ref p, 0) ^ Vector128.CreateScalar(c).AsUInt64();
            Vector128<ulong> x2 = Load(ref p, 16), x3 = Load(ref p, 32), x4 = Load(ref p, 48);
            Vector128<ulong> k512 = Vector128.Create(K1, K2);
            for (at = 64; at + 64 <= len; at += 64)
            {
                x1 = Fold(x1, k512, Load(ref p, at));
                x2 = Fold(x2, k512, Load(ref p, at + 16));
                x3 = Fold(x3, k512, Load(ref p, at + 32));
                x4 = Fold(x4, k512, Load(ref p, at + 48));
            }
            x1 = Fold(x1, k, x2);
            x1 = Fold(x1, k, x3);
            x1 = Fold(x1, k, x4);
        }
        for (; at + 16 <= len; at += 16) x1 = Fold(x1, k, Load(ref p, at));

        // 128 -> 64 bits.
        Vector128<ulong> lo32 = Vector128.Create(0xFFFF_FFFFUL);
        Vector128<ulong> t = Pclmulqdq.CarrylessMultiply(x1, k, 0x10);
        x1 = Sse2.ShiftRightLogical128BitLane(x1.AsByte(), 8).AsUInt64() ^ t;
        t = Sse2.ShiftRightLogical128BitLane(x1.AsByte(), 4).AsUInt64();
        x1 = Pclmulqdq.CarrylessMultiply(x1 & lo32, Vector128.CreateScalar(K5), 0x00) ^ t;

        // Barrett reduction 64 -> 32 bits.
        Vector128<ulong> poly = Vector128.Create(PolyPrime, Mu);
        t = Pclmulqdq.CarrylessMultiply(x1 & lo32, poly, 0x10) & lo32;
        t = Pclmulqdq.CarrylessMultiply(t, poly, 0x00);
        x1 ^= t;
        return Sse41.Extract(x1.AsUInt32(), 1);
    }

    // Four 512-bit accumulators over 256-byte blocks, then one over 64-byte blocks, then its four 128-bit lanes folded
    // into one (Chromium's crc32_avx512_simd_). Returns the 128-bit remainder and how far it got.
    private static Vector128<ulong> FoldWide(uint c, ref byte p, nuint len, out nuint at)
    {
        Vector512<ulong> x1 = Load512(ref p, 0) ^ Vector512.CreateScalar(c).AsUInt64();
        Vector512<ulong> x2 = Load512(ref p, 64), x3 = Load512(ref p, 128), x4 = Load512(ref p, 192);
        Vector512<ulong> k = Vector512.Create(K2048Hi, K2048Lo, K2048Hi, K2048Lo, K2048Hi, K2048Lo, K2048Hi, K2048Lo);
        for (at = WideFoldBlock; at + WideFoldBlock <= len; at += WideFoldBlock)
        {
            x1 = Fold(x1, k, Load512(ref p, at));
            x2 = Fold(x2, k, Load512(ref p, at + 64));
            x3 = Fold(x3, k, Load512(ref p, at + 128));
            x4 = Fold(x4, k, Load512(ref p, at + 192));
        }
        k = Vector512.Create(K1, K2, K1, K2, K1, K2, K1, K2);
        x1 = Fold(x1, k, x2);
        x1 = Fold(x1, k, x3);
        x1 = Fold(x1, k, x4);
        for (; at + 64 <= len; at += 64) x1 = Fold(x1, k, Load512(ref p, at));
        Vector128<ulong> k128 = Vector128.Create(K3, K4);
        Vector128<ulong> a = Fold(x1.GetLower().GetLower(), k128, x1.GetLower().GetUpper());
        a = Fold(a, k128, x1.GetUpper().GetLower());
        return Fold(a, k128, x1.GetUpper().GetUpper());
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<ulong> Load512(ref byte p, nuint offset) => Vector512.LoadUnsafe(ref p, offset).AsUInt64();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<ulong> Fold(Vector512<ulong> x, Vector512<ulong> k, Vector512<ulong> next) =>
        Pclmulqdq.V512.CarrylessMultiply(x, k, 0x00) ^ Pclmulqdq.V512.CarrylessMultiply(x, k, 0x11) ^ next;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<ulong> Load(ref byte p, nuint offset) => Vector128.LoadUnsafe(ref p, offset).AsUInt64();

    // x * x^(128 or 512) mod P, split into the two 64-bit halves, added to the next block.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<ulong> Fold(Vector128<ulong> x, Vector128<ulong> k, Vector128<ulong> next) =>
        Pclmulqdq.CarrylessMultiply(x, k, 0x00) ^ Pclmulqdq.CarrylessMultiply(x, k, 0x11) ^ next;

    /// <summary>a * b mod P for reflected 32-bit polynomials (zlib's multmodp).</summary>
    public static uint MultiplyModP(uint a, uint b)
    {
        uint m = 1u << 31, product = 0;
        while (true)
        {
            if ((a & m) != 0)
            {
                product ^= b;
                if ((a & (m - 1)) == 0) break;
            }
            m >>= 1;
            b = (b & 1) != 0 ? (b >> 1) ^ Polynomial : b >> 1;
        }
        return product;
    }

    /// <summary>x^(8n) mod P: the shift of a CRC over n zero bytes (zlib's x2nmodp(n, 3)).</summary>
    public static uint XPowEightNModP(long n)
    {
        uint p = 1u << 31; // x^0
        int k = 3;
        while (n != 0)
        {
            if ((n & 1) != 0) p = MultiplyModP(XPow2N[k & 31], p);
            n >>= 1;
            k++;
        }
        return p;
    }

    private static uint[] BuildXPow2N()
    {
        var table = new uint[32];
        uint p = 1u << 30; // x^1
        table[0] = p;
        for (int i = 1; i < 32; i++) table[i] = p = MultiplyModP(p, p);
        return table;
    }

    private static uint[] BuildSliceBy8()
    {
        var t = new uint[8 * 256];
        for (uint i = 0; i < 256; i++)
        {
            uint c = i;
            for (int j = 0; j < 8; j++) c = (c & 1) != 0 ? (c >> 1) ^ Polynomial : c >> 1;
            t[i] = c;
        }
        for (int s = 1; s < 8; s++)
        {
            for (int i = 0; i < 256; i++) t[s * 256 + i] = t[(s - 1) * 256 + i] >> 8 ^ t[t[(s - 1) * 256 + i] & 0xFF];
        }
        return t;
    }
}
