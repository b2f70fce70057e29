using Ckptmpi.Errors;
using Microsoft.Win32.SafeHandles;

namespace Ckptmpi.Formats.Meta;

/// <summary>The bytes of one declared KV head of one tensor in one shard file.</summary>
public sealed record HeadBytes(string Path, long Offset, long Length);

/// <summary>
/// KV heads stored more than once. When a checkpoint is resharded to more MP ranks than it has KV heads (Llama 3.1
/// 405B bf16-mp16), params.json counts every stored copy as a head, and the heads of a group of
/// <c>replicas</c> consecutive declared heads are byte-identical copies. Reading such a checkpoint as is gives a valid
/// but redundant model; removing the copies gives the architecture's real one, which is only right if the copies
/// really are equal, so every copy is compared with the one that is read (streamed, a few MB at a time, on rank 0).
/// </summary>
public static class KvReplicas
{
    private const int BufferBytes = 4 << 20;

    /// <summary>
    /// The largest <c>r</c> &gt; 1 dividing <paramref name="declared"/> (and leaving a KV-head count that divides
    /// <paramref name="queryHeads"/>) for which every group of r consecutive declared heads is byte-identical in both
    /// <paramref name="keys"/> and <paramref name="values"/> of one layer; 1 when there is none. Identical trained
    /// heads do not happen by chance, so equality is the mark of copies.
    /// </summary>
    public static int Detect(IReadOnlyList<HeadBytes> keys, IReadOnlyList<HeadBytes> values, long declared, long queryHeads)
    {
        if (declared < 2) return 1;
        var same = new bool[declared - 1];
        for (int g = 0; g + 1 < declared; g++) same[g] = Equal(keys[g], keys[g + 1]) && Equal(values[g], values[g + 1]);
        for (long r = declared; r > 1; r--)
        {
            if (declared % r != 0 || queryHeads % (declared / r) != 0) continue;
            bool all = true;
            for (long g = 0; g + 1 < declared && all; g++) all = g % r == r - 1 || same[g];
            if (all) return (int)r;
        }
        return 1;
    }

    /// <summary>Proves every copy in <paramref name="heads"/> (declared order) equals the first of its group of <paramref name="replicas"/>.</summary>
    /// <exception cref="CheckpointFormatException">a copy differs: names the tensor, both files and the byte.</exception>
    public static void Verify(string tensor, IReadOnlyList<HeadBytes> heads, int replicas)
    {
        for (int g = 0; g < heads.Count; g++)
        {
            if (g % replicas == 0) continue;
            HeadBytes first = heads[g - g % replicas], copy = heads[g];
            long at = FirstDifference(first, copy);
            if (at < 0) continue;
            throw new CheckpointFormatException(copy.Path, copy.Offset + at,
                $"KV head {g / replicas} of {tensor} is stored {replicas} times (params.json declares {heads.Count} KV heads, {heads.Count / replicas} distinct), "
                + $"but its copy in {Path.GetFileName(copy.Path)} (declared head {g}) differs from the one in {Path.GetFileName(first.Path)} (declared head {g - g % replicas}) "
                + $"at byte {at} of the head; the shards are damaged or not copies (--kv-heads {heads.Count} reads every declared head as its own)", tensor);
        }
    }

    private static bool Equal(HeadBytes a, HeadBytes b) => FirstDifference(a, b) < 0;

    /// <summary>The first differing byte of two heads, or -1 when they are equal.</summary>
    private static long FirstDifference(HeadBytes a, HeadBytes b)
    {
        if (a.Length != b.Length) return 0;
        using SafeFileHandle ha = File.OpenHandle(a.Path), hb = File.OpenHandle(b.Path);
        int size = (int)Math.Min(BufferBytes, Math.Max(1, a.Length));
        byte[] ba = new byte[size], bb = new byte[size];
        for (long done = 0; done < a.Length;)
        {
            int n = (int)Math.Min(size, a.Length - done);
            ReadExactly(ha, ba.AsSpan(0, n), a.Offset + done, a.Path);
            ReadExactly(hb, bb.AsSpan(0, n), b.Offset + done, b.Path);
            int i = ba.AsSpan(0, n).CommonPrefixLength(bb.AsSpan(0, n));
            if (i < n) return done + i;
            done += n;
        }
        return -1;
    }

    private static void ReadExactly(SafeFileHandle h, Span<byte> into, long offset, string path)
    {
        while (into.Length > 0)
        {
            int n = RandomAccess.Read(h, into, offset);
            if (n == 0) throw new CheckpointFormatException(path, offset, "the file ends inside a tensor its pickle declares");
            into = into[n..];
            offset += n;
        }
    }
}
