using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Ckptmpi.Tensors.Checksums;

/// <summary>
/// XXH64 (xxHash 64-bit, seed 0 unless given), the checksum ckptmpi records in manifests: a published,
/// widely implemented hash (<c>xxhsum -H1</c>, libxxhash's <c>XXH64</c>), several times faster than a page-cache
/// read, with a streaming API so a writer hashes each chunk as it goes. Bit-exact with libxxhash (tested).
/// Unlike <see cref="Crc32"/> it does not compose: pieces of one file written by several ranks each get their own
/// digest; a whole-file value assembled from pieces uses <see cref="Crc32.Combine"/>.
/// System.IO.Hashing (which has XxHash3/XxHash128) is not available from our package feed.
/// </summary>
public sealed class XxHash64
{
    private const ulong P1 = 0x9E3779B185EBCA87, P2 = 0xC2B2AE3D27D4EB4F, P3 = 0x165667B19E3779F9,
        P4 = 0x85EBCA77C2B2AE63, P5 = 0x27D4EB2F165667C5;
    private const int StripeLength = 32; // four 8-byte lanes

    private readonly ulong _seed;
    private ulong _v1, _v2, _v3, _v4;
    private readonly byte[] _pending = new byte[StripeLength];
    private int _pendingLength;
    private long _totalLength;

    public XxHash64(ulong seed = 0)
    {
        _seed = seed;
        Reset();
    }

    public void Reset()
    {
        _v1 = unchecked(_seed + P1 + P2);
        _v2 = unchecked(_seed + P2);
        _v3 = _seed;
        _v4 = unchecked(_seed - P1);
        _pendingLength = 0;
        _totalLength = 0;
    }

    public void Append(ReadOnlySpan<byte> data)
    {
        _totalLength += data.Length;
        if (_pendingLength > 0)
        {
            int take = Math.Min(StripeLength - _pendingLength, data.Length);
            data[..take].CopyTo(_pending.AsSpan(_pendingLength));
            _pendingLength += take;
            data = data[take..];
            if (_pendingLength < StripeLength) return;
            ConsumeStripes(_pending);
            _pendingLength = 0;
        }
        int bulk = data.Length - data.Length % StripeLength;
        if (bulk > 0) ConsumeStripes(data[..bulk]);
        data[bulk..].CopyTo(_pending);
        _pendingLength = data.Length - bulk;
    }

    /// <summary>The digest of everything appended so far (does not end the stream).</summary>
    public ulong GetCurrentHashAsUInt64()
    {
        ulong h;
        if (_totalLength >= StripeLength)
        {
            h = BitOperations.RotateLeft(_v1, 1) + BitOperations.RotateLeft(_v2, 7) + BitOperations.RotateLeft(_v3, 12) + BitOperations.RotateLeft(_v4, 18);
            h = MergeRound(h, _v1);
            h = MergeRound(h, _v2);
            h = MergeRound(h, _v3);
            h = MergeRound(h, _v4);
        }
        else
        {
            h = _seed + P5;
        }
        h += (ulong)_totalLength;

        ReadOnlySpan<byte> rest = _pending.AsSpan(0, _pendingLength);
        while (rest.Length >= 8)
        {
            h ^= Round(0, BinaryPrimitives.ReadUInt64LittleEndian(rest));
            h = BitOperations.RotateLeft(h, 27) * P1 + P4;
            rest = rest[8..];
        }
        if (rest.Length >= 4)
        {
            h ^= BinaryPrimitives.ReadUInt32LittleEndian(rest) * P1;
            h = BitOperations.RotateLeft(h, 23) * P2 + P3;
            rest = rest[4..];
        }
        foreach (byte b in rest)
        {
            h ^= b * P5;
            h = BitOperations.RotateLeft(h, 11) * P1;
        }
        h ^= h >> 33;
        h *= P2;
        h ^= h >> 29;
        h *= P3;
        h ^= h >> 32;
        return h;
    }

    /// <summary>The digest as 16 lowercase hex digits (how manifests and <c>xxhsum</c> print it).</summary>
    public string GetCurrentHashAsHex() => GetCurrentHashAsUInt64().ToString("x16");

    public static ulong Hash(ReadOnlySpan<byte> data, ulong seed = 0)
    {
        var x = new XxHash64(seed);
        x.Append(data);
        return x.GetCurrentHashAsUInt64();
    }

    private void ConsumeStripes(ReadOnlySpan<byte> data)
    {
        ulong v1 = _v1, v2 = _v2, v3 = _v3, v4 = _v4; // locals so the JIT keeps the four lanes in registers
        ref byte p = ref MemoryMarshal.GetReference(data);
        nuint n = (nuint)data.Length;
        for (nuint i = 0; i + StripeLength <= n; i += StripeLength)
        {
            v1 = Round(v1, ReadLane(ref p, i));
            v2 = Round(v2, ReadLane(ref p, i + 8));
            v3 = Round(v3, ReadLane(ref p, i + 16));
            v4 = Round(v4, ReadLane(ref p, i + 24));
        }
        (_v1, _v2, _v3, _v4) = (v1, v2, v3, v4);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong ReadLane(ref byte p, nuint offset)
    {
        ulong v = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref p, offset));
        return BitConverter.IsLittleEndian ? v : BinaryPrimitives.ReverseEndianness(v);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Round(ulong acc, ulong lane) => BitOperations.RotateLeft(acc + lane * P2, 31) * P1;

    private static ulong MergeRound(ulong acc, ulong v) => (acc ^ Round(0, v)) * P1 + P4;
}
