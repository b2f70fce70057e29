using System.Diagnostics;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Conversion.Planning;

/// <summary>
/// Cuts a byte range of one output file into chunks that each fit the buffer: the output bytes of a chunk sit
/// at the start of the buffer; source elements of the output dtype are read straight into place, others are
/// staged after the output area (64-byte aligned) and cast. Contiguous reads and casts are merged.
/// </summary>
internal sealed class ChunkBuilder
{
    private const int StagingAlignment = 64;

    private readonly IReadOnlyList<OutputFile> _files;
    private readonly SourceIndex _sources;
    private readonly CrcMarks[] _marks;
    private readonly int _budget;

    // State of the chunk being built.
    private int _file;
    private long _start;
    private int _outUsed;
    private int _stageUsed;
    private readonly List<SourceRead> _outReads = [];
    private readonly List<SourceRead> _stageReads = [];
    private readonly List<LiteralOp> _literals = [];
    private readonly List<ZeroOp> _zeros = [];
    private readonly List<CastOp> _casts = [];

    public ChunkBuilder(IReadOnlyList<OutputFile> files, SourceIndex sources, CrcMarks[] marks, int budget)
    {
        _files = files;
        _sources = sources;
        _marks = marks;
        _budget = budget;
    }

    public WorkItem Build(int file, ByteRange range)
    {
        var chunks = new List<Chunk>();
        IReadOnlyList<OutputSegment> segments = _files[file].Segments;
        _file = file;
        _start = range.Start;
        long at = range.Start;
        int si = range.Length == 0 ? 0 : Segments.IndexAt(segments, at);
        while (at < range.End)
        {
            OutputSegment seg = segments[si];
            long segEnd = Math.Min(seg.End, range.End);
            if (at >= segEnd) { si++; continue; }
            long free = _budget - (StagingAlignment - 1) - _outUsed - _stageUsed;
            long taken = seg switch
            {
                LiteralSegment => TakeLiteral(si, seg, at, segEnd, free),
                ZeroSegment => TakeZeros(at, segEnd, free),
                TensorSegment t => TakeTensor(t, at, segEnd, free),
                _ => throw new UnreachableException($"segment type {seg.GetType().Name}"),
            };
            if (taken == 0)
            {
                Debug.Assert(_outUsed > 0, "an empty chunk must fit at least one element");
                chunks.Add(Close(at));
                continue;
            }
            at += taken;
            _outUsed += (int)taken;
        }
        if (_outUsed > 0) chunks.Add(Close(at));
        return new WorkItem(file, range, chunks);
    }

    private long TakeLiteral(int index, OutputSegment seg, long at, long end, long free)
    {
        long n = Math.Min(end - at, free);
        if (n <= 0) return 0;
        _literals.Add(new LiteralOp(index, (int)(at - seg.Offset), _outUsed, (int)n));
        return n;
    }

    private long TakeZeros(long at, long end, long free)
    {
        long n = Math.Min(end - at, free);
        if (n <= 0) return 0;
        if (_zeros.Count > 0 && _zeros[^1].BufferOffset + _zeros[^1].Length == _outUsed)
            _zeros[^1] = _zeros[^1] with { Length = _zeros[^1].Length + (int)n };
        else
            _zeros.Add(new ZeroOp(_outUsed, (int)n));
        return n;
    }

    private long TakeTensor(TensorSegment t, long at, long end, long free)
    {
        int outSize = t.DType.SizeInBytes();
        Debug.Assert((at - t.Offset) % outSize == 0 && (end - t.Offset) % outSize == 0, "ranges are snapped to element boundaries");
        long element = t.FirstElement + (at - t.Offset) / outSize;
        long lastElement = t.FirstElement + (end - t.Offset) / outSize;
        (SourcePiece piece, int source) = _sources.PieceAt(t.Tensor, element);
        long n = Math.Min(lastElement, piece.FirstElement + piece.ElementCount) - element;
        int storedSize = piece.StoredDType.SizeInBytes();
        bool cast = piece.StoredDType != t.DType;
        long perElement = outSize + (cast ? storedSize : 0);
        n = Math.Min(n, free / perElement);
        if (n <= 0) return 0;

        long sourceOffset = piece.ByteOffset + (element - piece.FirstElement) * storedSize;
        if (!cast)
        {
            AddRead(_outReads, new SourceRead(source, sourceOffset, _outUsed, (int)(n * outSize)));
        }
        else
        {
            AddRead(_stageReads, new SourceRead(source, sourceOffset, _stageUsed, (int)(n * storedSize)));
            var op = new CastOp(_stageUsed, piece.StoredDType, _outUsed, t.DType, (int)n);
            if (_casts.Count > 0 && _casts[^1] is var last && last.From == op.From && last.To == op.To
                && last.StagingOffset + last.Elements * storedSize == op.StagingOffset && last.BufferOffset + last.Elements * outSize == op.BufferOffset)
                _casts[^1] = last with { Elements = last.Elements + op.Elements };
            else
                _casts.Add(op);
            _stageUsed += (int)(n * storedSize);
        }
        return n * outSize;
    }

    private static void AddRead(List<SourceRead> reads, SourceRead r)
    {
        if (reads.Count > 0 && reads[^1] is var last && last.Source == r.Source && last.SourceEnd == r.SourceOffset
            && last.BufferOffset + last.Length == r.BufferOffset)
            reads[^1] = last with { Length = last.Length + r.Length };
        else
            reads.Add(r);
    }

    private Chunk Close(long end)
    {
        int stagingBase = _stageUsed == 0 ? _outUsed : (_outUsed + StagingAlignment - 1) / StagingAlignment * StagingAlignment;
        SourceRead[] reads = _outReads
            .Concat(_stageReads.Select(r => r with { BufferOffset = r.BufferOffset + stagingBase }))
            .OrderBy(r => r.Source).ThenBy(r => r.SourceOffset).ToArray();
        CastOp[] casts = _casts.Select(c => c with { StagingOffset = c.StagingOffset + stagingBase }).ToArray();
        var chunk = new Chunk(_file, _start, _outUsed, stagingBase + _stageUsed, reads, _literals.ToArray(), _zeros.ToArray(), casts,
                              _marks[_file].Runs(_start, end));
        _outReads.Clear(); _stageReads.Clear(); _literals.Clear(); _zeros.Clear(); _casts.Clear();
        _start = end;
        _outUsed = 0;
        _stageUsed = 0;
        return chunk;
    }
}
