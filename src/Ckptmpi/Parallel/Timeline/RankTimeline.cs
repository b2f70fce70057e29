using System.Diagnostics;

namespace Ckptmpi.Parallel.Timeline;

/// <summary>
/// What one rank spent its time on, for the run report: the collective phases (metadata, plan, write, commit ...)
/// with the time each rank then waited for the others, and inside the write phase the activities of every piece
/// (read, transform, write, sync, exchange). Recording is a clock read and an append, with no lock on the hot path
/// beyond one per activity kind; each kind keeps at most <see cref="MaxSpansPerKind"/> spans by merging neighbours,
/// so memory stays bounded whatever the job's length. The recorder of the running rank is found through
/// <see cref="Current"/> (an async-local, so ranks running as threads in one process each see their own, and a
/// piece's write task sees its rank's).
/// </summary>
public sealed class RankTimeline
{
    /// <summary>Spans kept per kind before neighbours are merged (a report lane is under a thousand pixels wide).</summary>
    public const int MaxSpansPerKind = 512;

    private static readonly AsyncLocal<RankTimeline?> s_current = new();

    private readonly Stopwatch _clock;
    private readonly Dictionary<string, List<TimelineSpan>> _spans = new(StringComparer.Ordinal);

    /// <param name="clock">The job's clock, started when the rank started the job (spans are seconds since then).</param>
    public RankTimeline(Stopwatch clock) => _clock = clock;

    /// <summary>The recorder of the rank running on this thread or task, if a job installed one.</summary>
    public static RankTimeline? Current
    {
        get => s_current.Value;
        set => s_current.Value = value;
    }

    /// <summary>Seconds since the job started on this rank.</summary>
    public double Now => _clock.Elapsed.TotalSeconds;

    /// <summary>Records that <paramref name="kind"/> ran from <paramref name="start"/> to now; returns now.</summary>
    public double Record(string kind, double start)
    {
        double end = Now;
        Add(kind, start, end);
        return end;
    }

    public void Add(string kind, double start, double end)
    {
        if (end < start) return;
        List<TimelineSpan> list;
        lock (_spans)
        {
            if (!_spans.TryGetValue(kind, out list!)) _spans[kind] = list = [];
        }
        lock (list)
        {
            if (list.Count > 0 && list[^1] is var last && start - last.End < 1e-6 && last.Busy >= last.End - last.Start - 1e-9)
                list[^1] = new TimelineSpan(last.Start, end, last.Busy + (end - start)); // contiguous: extend
            else
                list.Add(new TimelineSpan(start, end, end - start));
            if (list.Count > MaxSpansPerKind) Coarsen(list);
        }
    }

    /// <summary>Halves a list by merging neighbours: each merged span covers both and keeps their busy time.</summary>
    private static void Coarsen(List<TimelineSpan> list)
    {
        int n = 0;
        for (int i = 0; i < list.Count; i += 2)
        {
            TimelineSpan a = list[i];
            list[n++] = i + 1 < list.Count ? new TimelineSpan(a.Start, list[i + 1].End, a.Busy + list[i + 1].Busy) : a;
        }
        list.RemoveRange(n, list.Count - n);
    }

    /// <summary>Everything recorded so far, by kind, in time order.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<TimelineSpan>> Snapshot()
    {
        lock (_spans)
        {
            // Tenths of a millisecond are finer than a report lane can show, and keep the gathered JSON small.
            return _spans.ToDictionary(p => p.Key, p =>
            {
                lock (p.Value) return (IReadOnlyList<TimelineSpan>)p.Value.Select(s => new TimelineSpan(Math.Round(s.Start, 4), Math.Round(s.End, 4), Math.Round(s.Busy, 4))).ToArray();
            }, StringComparer.Ordinal);
        }
    }
}

/// <summary>
/// <see cref="Start"/> to <see cref="End"/> in seconds since the job started; <see cref="Busy"/> is how much of it the
/// activity really ran (less than the length once neighbouring spans were merged).
/// </summary>
public readonly record struct TimelineSpan(double Start, double End, double Busy);
