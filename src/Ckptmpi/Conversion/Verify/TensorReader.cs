using Ckptmpi.Conversion.Planning;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Kernels;
using Ckptmpi.Tensors.Layout;
using Ckptmpi.Tensors.Views;

namespace Ckptmpi.Conversion.Verify;

/// <summary>
/// Reads elements of a canonical tensor from wherever a <see cref="SourceCatalog"/> says they live (one HF piece,
/// many ZeRO partitions, shards split along any dimension), cast to a requested dtype, into a caller's buffer: what
/// comparisons and <c>verify --against</c> stream through, a chunk at a time. It plans the run as a one-part view
/// record with the converter's own <see cref="ViewSlabPlanner"/> and runs its reads and the <see cref="Gather"/>
/// kernel, so sources are interpreted by one piece of code.
/// </summary>
public sealed class TensorReader(SourceCatalog catalog) : IDisposable
{
    private const int Alignment = 64;
    private readonly Dictionary<string, FileByteSource> _files = new(StringComparer.Ordinal);
    private readonly SourceIndex _index = new(catalog);
    private ViewSlabPlanner? _planner;
    private byte[] _buffer = [];

    /// <summary>Fills <paramref name="destination"/> with elements from <paramref name="first"/> of <paramref name="tensor"/> as <paramref name="as"/>.</summary>
    public void Read(SourceTensor tensor, long first, DType @as, Span<byte> destination)
    {
        int outSize = @as.SizeInBytes();
        long count = destination.Length / outSize;
        if (count == 0) return;
        if (first < 0 || first + count > tensor.ElementCount)
            throw new InvalidOperationException($"tensor '{tensor.Name}': elements [{first}, {first + count}) of {tensor.ElementCount}");
        var record = new ViewSegment(0, [count], @as, TensorOp.Copy,
            [new ViewPart(tensor.Name, [tensor.ElementCount], Box.Range(first, count), [0], Box.Range(0, count))]);
        _planner ??= new ViewSlabPlanner(_index);
        SlabPlan plan = _planner.Plan(record, Box.Range(0, count), 0, 0, @as, toScratch: false);
        int staging = (destination.Length + Alignment - 1) / Alignment * Alignment;
        int size = staging + plan.StagingBytes;
        if (_buffer.Length < size) _buffer = new byte[size];
        Span<byte> buffer = _buffer.AsSpan(0, size);
        long filled = 0;
        foreach (SourceRead r in plan.Reads)
            Open(_index.Files[r.Source]).ReadBlocks(r.SourceOffset, r.Length, r.Count, r.Stride, buffer.Slice(staging + r.BufferOffset, r.TotalBytes));
        foreach (GatherOp g in plan.Gathers)
        {
            Gather.Run(buffer, staging + g.SourceOffset, g.SourceStrides, g.DestinationOffset, g.DestinationStrides, g.Shape, g.From, g.To);
            filled += g.Elements;
        }
        if (filled != count)
            throw new InvalidOperationException($"tensor '{tensor.Name}': {count - filled} of elements [{first}, {first + count}) are stored nowhere");
        buffer[..destination.Length].CopyTo(destination);
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
