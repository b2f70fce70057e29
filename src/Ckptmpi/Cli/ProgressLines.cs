using System.Diagnostics;
using Ckptmpi.Parallel;
using Serilog;

namespace Ckptmpi.Cli;

/// <summary>
/// Progress as log lines ("convert: 12.5 GiB of 140.0 GiB (8.9 %), 1.21 GiB/s, about 1:45:10 left"), at most one
/// per interval plus one at the end of each phase: readable in a batch job's output file, no escape codes.
/// </summary>
public sealed class ProgressLines(ILogger log, TimeSpan interval) : IProgressReporter
{
    public IProgressPhase BeginPhase(string name, long total) => new Phase(log, interval, name, total);

    /// <summary>One phase; <see cref="Advance"/> may be called from any thread.</summary>
    internal sealed class Phase(ILogger log, TimeSpan interval, string name, long total) : IProgressPhase
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private long _done;
        private long _lastLineTicks;
        private int _ended;

        public void Advance(long done)
        {
            long now = Interlocked.Add(ref _done, done);
            long last = Interlocked.Read(ref _lastLineTicks);
            long elapsed = _clock.Elapsed.Ticks;
            if (elapsed - last >= interval.Ticks && Interlocked.CompareExchange(ref _lastLineTicks, elapsed, last) == last)
                log.Information("{Phase:l}: {Line:l}", name, Describe(now, _clock.Elapsed));
        }

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _ended, 1) == 1) return;
            long done = Interlocked.Read(ref _done);
            // A phase ended short of its total was cut short (a failed job): say so rather than "done".
            log.Information("{Phase:l}: {End:l}, {Line:l}", name, total > 0 && done < total ? "stopped" : "done", Describe(done, _clock.Elapsed));
        }

        internal string Describe(long done, TimeSpan elapsed)
        {
            double seconds = Math.Max(elapsed.TotalSeconds, 1e-3);
            double rate = done / seconds;
            string line = total > 0
                ? $"{Gib(done)} of {Gib(total)} ({100.0 * done / total:F1} %), {rate / (1L << 30):F2} GiB/s"
                : $"{Gib(done)}, {rate / (1L << 30):F2} GiB/s";
            if (total > 0 && done < total && rate > 0)
                line += $", about {TimeSpan.FromSeconds(Math.Ceiling((total - done) / rate)):c} left";
            return line;
        }

        private static string Gib(long bytes) => $"{bytes / (double)(1L << 30):F1} GiB";
    }
}
