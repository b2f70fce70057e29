using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Conversion.Planning;

/// <summary>
/// A file's CRC bookkeeping: the covered ranges of its <see cref="Crc32Field"/>s and their 4-byte slots, sorted.
/// <see cref="Runs"/> cuts any byte range into CRC runs that never straddle a covered range's edge and skip the
/// slots, whose bytes are only known after every rank has reported.
/// </summary>
internal sealed class CrcMarks
{
    private const int Slot = -2;
    private readonly (long Start, long End, int Field)[] _marks;

    public CrcMarks(OutputFile file)
    {
        if (file.Crc32Fields.Count == 0)
        {
            // Most files have no CRC fields: one run per range, nothing to sort (a 405B layout has 10^5 files).
            _marks = [];
            Slots = [];
            return;
        }
        var marks = new List<(long Start, long End, int Field)>();
        var slots = new List<CrcSlot>();
        for (int i = 0; i < file.Crc32Fields.Count; i++)
        {
            Crc32Field f = file.Crc32Fields[i];
            if (f.Covered.Length > 0) marks.Add((f.Covered.Start, f.Covered.End, i));
            foreach (long w in f.WriteAt)
            {
                marks.Add((w, w + 4, Slot));
                slots.Add(new CrcSlot(w, i));
            }
        }
        _marks = marks.OrderBy(m => m.Start).ToArray();
        Slots = slots.OrderBy(s => s.Offset).ToArray();
    }

    public IReadOnlyList<CrcSlot> Slots { get; }

    public CrcRun[] Runs(long start, long end)
    {
        if (_marks.Length == 0) return end > start ? [new CrcRun(start, (int)(end - start), -1)] : [];
        var runs = new List<CrcRun>();
        int i = FirstEndingAfter(start);
        long at = start;
        while (at < end)
        {
            if (i >= _marks.Length || _marks[i].Start >= end)
            {
                runs.Add(new CrcRun(at, (int)(end - at), -1));
                break;
            }
            var m = _marks[i];
            if (m.Start > at)
            {
                runs.Add(new CrcRun(at, (int)(m.Start - at), -1));
                at = m.Start;
            }
            long stop = Math.Min(m.End, end);
            if (m.Field != Slot) runs.Add(new CrcRun(at, (int)(stop - at), m.Field));
            at = stop;
            i++;
        }
        return runs.ToArray();
    }

    private int FirstEndingAfter(long offset)
    {
        int lo = 0, hi = _marks.Length;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (_marks[mid].End <= offset) lo = mid + 1; else hi = mid;
        }
        return lo;
    }
}
