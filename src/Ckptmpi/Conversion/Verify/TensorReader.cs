using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Kernels;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Conversion.Verify;

/// <summary>
/// Reads elements of a canonical tensor from wherever a <see cref="SourceCatalog"/> says they live (one HF piece or
/// many ZeRO partitions), cast to a requested dtype, into a caller's buffer: what comparisons and <c>verify --against</c>
/// stream through, a chunk at a time.
/// </summary>
public sealed class TensorReader(SourceCatalog catalog) : IDisposable
{
    private readonly Dictionary<string, FileByteSource> _files = new(StringComparer.Ordinal);
    private byte[] _staging = [];

    /// <summary>Fills <paramref name="destination"/> with elements from <paramref name="first"/> of <paramref name="tensor"/> as <paramref name="as"/>.</summary>
    public void Read(SourceTensor tensor, long first, DType @as, Span<byte> destination)
    {
        int outSize = @as.SizeInBytes();
        long count = destination.Length / outSize;
        long element = first;
        foreach (SourcePiece p in tensor.Pieces.OrderBy(p => p.FirstElement))
        {
            long end = p.FirstElement + p.ElementCount;
            if (end <= element || p.FirstElement >= first + count) continue;
            long n = Math.Min(end, first + count) - element;
            int storedSize = p.StoredDType.SizeInBytes();
            Span<byte> dst = destination.Slice((int)((element - first) * outSize), (int)(n * outSize));
            long offset = p.ByteOffset + (element - p.FirstElement) * storedSize;
            FileByteSource file = Open(p.File);
            if (p.StoredDType == @as)
            {
                file.ReadExactly(offset, dst);
            }
            else
            {
                if (_staging.Length < n * storedSize) _staging = new byte[n * storedSize];
                Span<byte> raw = _staging.AsSpan(0, (int)(n * storedSize));
                file.ReadExactly(offset, raw);
                Cast.Convert(raw, p.StoredDType, dst, @as);
            }
            element += n;
        }
        if (element != first + count)
            throw new InvalidOperationException($"tensor '{tensor.Name}': elements from {element} are stored nowhere");
    }

    private FileByteSource Open(string relative)
    {
        if (!_files.TryGetValue(relative, out FileByteSource? f)) _files[relative] = f = new FileByteSource(Path.Combine(catalog.Root, relative));
        return f;
    }

    public void Dispose()
    {
        foreach (FileByteSource f in _files.Values) f.Dispose();
        _files.Clear();
    }
}
