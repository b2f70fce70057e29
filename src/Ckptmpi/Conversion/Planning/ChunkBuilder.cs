using System.Diagnostics;
using Ckptmpi.Tensors;
using Ckptmpi.Errors;
using Ckptmpi.Tensors.Layout;
using Ckptmpi.Tensors.Views;

namespace Ckptmpi.Conversion.Planning;

/// <summary>
/// Cuts a byte range of one output file into chunks that each fit the buffer: the output bytes of a chunk sit
/// at the start of the buffer; source elements of the output dtype are read straight into place, others are
/// staged after the output area (64-byte aligned) and cast. Chunks stop near a target size
/// (<see cref="BufferBudget.TargetChunkBytes"/>; a reducing record, which needs one pass, may use the whole budget). Contiguous reads and casts are merged. View records
/// (and tensor segments of tensors stored as boxes) are cut into row-major slabs whose sources are staged and
/// gathered (see <see cref="ViewSlabPlanner"/>); a reducing record is one slab, and the scales a file written with it
/// holds (<see cref="OutputFile.WrittenWith"/>) are computed from the same staged values into the buffer past the
/// staging and written by the same chunk (<see cref="Chunk.Companions"/>): one read of the source for both.
/// </summary>
internal sealed class ChunkBuilder
{
    private const int StagingAlignment = 64;

    private readonly IReadOnlyList<OutputFile> _files;
    private readonly SourceIndex _sources;
    private readonly CrcMarks[] _marks;
    private readonly int _budget;
    private readonly int _target;
    private readonly ViewSlabPlanner _views;
    private readonly int[][] _companions;

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
    private readonly List<GatherOp> _gathers = [];
    private readonly List<ReduceStep> _reduces = [];
    private readonly List<CompanionWrite> _companionWrites = [];

    /// <param name="companions">For each file, the files its reducing record's chunk also writes (<see cref="CompanionFiles"/>).</param>
    /// <param name="target">the size chunks stop near (at most <paramref name="budget"/>, the most one may use).</param>
    public ChunkBuilder(IReadOnlyList<OutputFile> files, SourceIndex sources, CrcMarks[] marks, int budget, int target, int[][]? companions = null)
    {
        _companions = companions ?? CompanionFiles.Of(files);
        _files = files;
        _sources = sources;
        _marks = marks;
        _budget = budget;
        _target = Math.Min(budget, target);
        _views = new ViewSlabPlanner(sources);
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
            long used = (StagingAlignment - 1) + _outUsed + _stageUsed;
            long free = _target - used, hard = _budget - used;
            long taken = seg switch
            {
                LiteralSegment => TakeLiteral(si, seg, at, segEnd, free),
                ZeroSegment => TakeZeros(at, segEnd, free),
                TensorSegment t when !_sources.AllFlat(t.Tensor) => TakeView(AsView(t), at, segEnd, free, hard),
                TensorSegment t => TakeTensor(t, at, segEnd, free),
                ViewSegment v => TakeView(v, at, segEnd, free, hard),
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

    /// <summary>A flat run of a tensor stored as boxes: a one-part view record of one axis.</summary>
    private ViewSegment AsView(TensorSegment t) =>
        new(t.Offset, [t.ElementCount], t.DType, TensorOp.Copy,
            [new ViewPart(t.Tensor, [_sources.ElementCount(t.Tensor)], Box.Range(t.FirstElement, t.ElementCount), [0], Box.Range(0, t.ElementCount))]);

    /// <param name="free">what the chunk may still take to stay near the preferred size.</param>
    /// <param name="hard">what it may take within the buffer: for a reducing record, and for a first element that needs more than <paramref name="free"/>.</param>
    private long TakeView(ViewSegment v, long at, long end, long free, long hard)
    {
        int stageAt = Align(_stageUsed);
        if (v.Op.Reduces)
        {
            if (at != v.Offset || end != v.End) throw new InvalidOperationException($"plan bug: reducing record at {v.Offset} cut at [{at}, {end})");
            int scratch = checked((int)(DTypes.ElementCount(v.Shape) * sizeof(float)));
            SlabPlan whole = _views.Plan(v, Box.Full(v.Shape), 0, stageAt, DType.F32, toScratch: true);
            int readsAt = Align(stageAt + scratch);
            // The scales of this quantization that other files hold are computed from the same scratch, past the reads.
            int[] companions = v.Op.Kind == TensorOpKind.QuantizeValues ? _companions[_file] : [];
            long stagedEnd = (long)readsAt + whole.StagingBytes;
            foreach (int c in companions) stagedEnd = AlignLong(stagedEnd) + _files[c].Length;
            long need = v.Length + (stagedEnd - _stageUsed);
            if (need > hard)
            {
                if (_outUsed > 0) return 0;
                throw new UnsupportedCheckpointException(_sources.Root,
                    $"output file '{_files[_file].RelativePath}': record {v} must be assembled in one buffer pass (it reduces over axes) and needs a buffer of {need + StagingAlignment - 1} bytes; --max-buffer is {_budget}");
            }
            Commit(whole, readsAt);
            _reduces.Add(new ReduceStep(stageAt, v.Shape, v.Op, _outUsed, v.DType));
            foreach (int c in companions)
            {
                var scales = (ViewSegment)_files[c].Segments[0];
                int into = Align(_stageUsed), length = checked((int)scales.Length);
                _reduces.Add(new ReduceStep(stageAt, v.Shape, scales.Op, into, scales.DType) { ToStaging = true });
                _companionWrites.Add(new CompanionWrite(c, 0, length, into, _marks[c].Runs(0, length)));
                _stageUsed = into + length;
            }
            return v.Length;
        }
        // Each take reads every overlapping shard once: a nearly full chunk closes rather than taking a sliver.
        if (_outUsed > 0 && free < _target / 8) return 0;
        long taken = TakeSlab(v, at, end, free, stageAt);
        if (taken == 0 && _outUsed == 0 && hard > free) taken = TakeSlab(v, at, end, hard, stageAt);
        if (taken > 0 || _outUsed > 0) return taken;
        throw new UnsupportedCheckpointException(_sources.Root,
            $"output file '{_files[_file].RelativePath}': one element of record {v} needs more than the buffer of {_budget} bytes to stage its sources; raise --max-buffer");
    }

    /// <summary>The largest row-major slab from <paramref name="at"/> whose output and staging fit <paramref name="free"/>; 0 if not one element does.</summary>
    private long TakeSlab(ViewSegment v, long at, long end, long free, int stageAt)
    {
        int outSize = v.DType.SizeInBytes();
        long first = (at - v.Offset) / outSize, last = (end - v.Offset) / outSize;
        // First guess: the sources staged at their stored size next to the output (exact for shards cut along rows or columns).
        long n = Math.Min(last - first, free / (outSize + _views.StoredSize(v)));
        while (n > 0)
        {
            (Box slab, long count) = SplitShapes.FirstBlock(v.Shape, first, first + n);
            SlabPlan plan = _views.Plan(v, slab, first, _outUsed, v.DType, toScratch: false);
            long need = count * outSize + (stageAt - _stageUsed) + plan.StagingBytes;
            if (need <= free)
            {
                Commit(plan, stageAt);
                return count * outSize;
            }
            if (count == 1) break;
            // Staging grows about linearly with the slab: shrink in proportion (a little more, for alignment and partial rows).
            n = Math.Min(count - 1, Math.Max(1, (long)(count * (free / (double)need) * 0.98)));
        }
        return 0;
    }

    /// <summary>Adds a slab's reads and gathers with their staging offsets moved to <paramref name="stageAt"/>.</summary>
    private void Commit(SlabPlan plan, int stageAt)
    {
        foreach (SourceRead r in plan.Reads) AddRead(_stageReads, r with { BufferOffset = r.BufferOffset + stageAt });
        foreach (GatherOp g in plan.Gathers) _gathers.Add(g with { SourceOffset = g.SourceOffset + stageAt });
        _stageUsed = stageAt + plan.StagingBytes;
    }

    private static int Align(int n) => (n + StagingAlignment - 1) / StagingAlignment * StagingAlignment;

    private static long AlignLong(long n) => (n + StagingAlignment - 1) / StagingAlignment * StagingAlignment;

    /// <summary>Orders reads by source file, then offset, keeping the planned order of equal keys.</summary>
    private static void SortStable(SourceRead[] reads)
    {
        if (reads.Length > 16)
        {
            // The planned index breaks ties, so the unstable array sort gives the stable order.
            var keys = new (int Source, long Offset, int Index)[reads.Length];
            for (int i = 0; i < reads.Length; i++) keys[i] = (reads[i].Source, reads[i].SourceOffset, i);
            Array.Sort(keys, reads);
            return;
        }
        for (int k = 1; k < reads.Length; k++)
        {
            SourceRead x = reads[k];
            int j = k - 1;
            while (j >= 0 && (reads[j].Source > x.Source || (reads[j].Source == x.Source && reads[j].SourceOffset > x.SourceOffset)))
            {
                reads[j + 1] = reads[j];
                j--;
            }
            reads[j + 1] = x;
        }
    }

    private static void AddRead(List<SourceRead> reads, SourceRead r)
    {
        if (reads.Count > 0 && reads[^1] is var last && !last.IsStrided && !r.IsStrided && last.Source == r.Source && last.SourceEnd == r.SourceOffset
            && last.BufferOffset + last.Length == r.BufferOffset)
            reads[^1] = last with { Length = last.Length + r.Length };
        else
            reads.Add(r);
    }

    private Chunk Close(long end)
    {
        int stagingBase = _stageUsed == 0 ? _outUsed : (_outUsed + StagingAlignment - 1) / StagingAlignment * StagingAlignment;
        // Plain loops, no LINQ: a 405B plan closes 10^5 chunks. Reads in source order, ties in the order they were planned.
        var reads = new SourceRead[_outReads.Count + _stageReads.Count];
        _outReads.CopyTo(reads);
        for (int i = 0; i < _stageReads.Count; i++) reads[_outReads.Count + i] = _stageReads[i] with { BufferOffset = _stageReads[i].BufferOffset + stagingBase };
        SortStable(reads);
        var casts = new CastOp[_casts.Count];
        for (int i = 0; i < casts.Length; i++) casts[i] = _casts[i] with { StagingOffset = _casts[i].StagingOffset + stagingBase };
        var gathers = new GatherOp[_gathers.Count];
        for (int i = 0; i < gathers.Length; i++)
        {
            GatherOp g = _gathers[i];
            gathers[i] = g with { SourceOffset = g.SourceOffset + stagingBase, DestinationOffset = g.DestinationOffset + (g.ToScratch ? stagingBase : 0) };
        }
        var reduces = new ReduceStep[_reduces.Count];
        for (int i = 0; i < reduces.Length; i++)
        {
            ReduceStep r = _reduces[i];
            reduces[i] = r with { ScratchOffset = r.ScratchOffset + stagingBase, BufferOffset = r.BufferOffset + (r.ToStaging ? stagingBase : 0) };
        }
        var companions = new CompanionWrite[_companionWrites.Count];
        for (int i = 0; i < companions.Length; i++) companions[i] = _companionWrites[i] with { BufferOffset = _companionWrites[i].BufferOffset + stagingBase };
        var chunk = new Chunk(_file, _start, _outUsed, stagingBase + _stageUsed, reads, _literals.ToArray(), _zeros.ToArray(), casts,
                              _marks[_file].Runs(_start, end), gathers, reduces)
        {
            Companions = companions,
        };
        _outReads.Clear(); _stageReads.Clear(); _literals.Clear(); _zeros.Clear(); _casts.Clear(); _gathers.Clear(); _reduces.Clear(); _companionWrites.Clear();
        _start = end;
        _outUsed = 0;
        _stageUsed = 0;
        return chunk;
    }
}
