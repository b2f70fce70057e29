using Ckptmpi.Errors;
using Ckptmpi.Tensors;

namespace Ckptmpi.Formats.NxD;

/// <summary>
/// A tensor slice NxDT stores more than once (KV heads replicated by --kv-size-multiplier, norms on every tp rank):
/// the catalog reads the first copy; this proves every other copy holds the same bytes, so a damaged replica is an
/// error instead of a silently discarded difference. Compared through one fixed buffer, never a whole tensor.
/// </summary>
internal sealed record NxdReplica(string Tensor, string What, string FirstFile, long FirstOffset, string OtherFile, long OtherOffset, long Length);

internal static class NxdReplicaCheck
{
    private const int ChunkBytes = 1 << 20;

    /// <exception cref="CheckpointFormatException">a copy differs (names the tensor, both files and the offset).</exception>
    public static void Run(string root, IReadOnlyList<NxdReplica> replicas)
    {
        var sources = new Dictionary<string, FileByteSource>(StringComparer.Ordinal);
        FileByteSource Open(string f) => sources.TryGetValue(f, out var s) ? s : sources[f] = new FileByteSource(Path.Combine(root, f));
        byte[] a = new byte[ChunkBytes], b = new byte[ChunkBytes];
        try
        {
            foreach (NxdReplica r in replicas)
            {
                FileByteSource first = Open(r.FirstFile), other = Open(r.OtherFile);
                for (long done = 0; done < r.Length; done += ChunkBytes)
                {
                    int n = (int)Math.Min(ChunkBytes, r.Length - done);
                    first.ReadExactly(r.FirstOffset + done, a.AsSpan(0, n));
                    other.ReadExactly(r.OtherOffset + done, b.AsSpan(0, n));
                    int at = a.AsSpan(0, n).CommonPrefixLength(b.AsSpan(0, n));
                    if (at < n)
                        throw new CheckpointFormatException(Path.Combine(root, r.OtherFile), r.OtherOffset + done + at,
                            $"{r.What} of '{r.Tensor}' differs from the copy in {r.FirstFile} (byte {done + at} of {r.Length}): the replicas of one tensor must be equal; the checkpoint is damaged or was not written by one model", r.Tensor);
                }
            }
        }
        finally
        {
            foreach (FileByteSource s in sources.Values) s.Dispose();
        }
    }
}
