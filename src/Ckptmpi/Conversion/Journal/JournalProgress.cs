using System.Text;
using System.Text.Json;
using Ckptmpi.Parallel;

namespace Ckptmpi.Conversion.Journal;

/// <summary>
/// Rank 0's view of how far the whole job has got, for the progress display: every rank already appends each piece it
/// completes to its journal in the output directory (which all ranks share: rank 0 commits their files), written
/// through at once. A background timer on rank 0 reads what the journals gained since its last look and adds the
/// pieces' bytes to the phase, so the display covers every rank and the ranks exchange nothing for it: no collective
/// or message on the write path, whatever the interval. Pieces a resumed run reuses count at the first look.
/// </summary>
internal sealed class JournalProgress : IDisposable
{
    private readonly string _outputDir;
    private readonly long[] _offsets;
    private readonly long _total;
    private readonly IProgressPhase _phase;
    private readonly Timer _timer;
    private readonly Lock _lock = new();
    private long _done;
    private bool _disposed;
    private int _ending;

    /// <summary>Starts sampling every <paramref name="interval"/> the journals of <paramref name="ranks"/> ranks, against <paramref name="total"/> bytes.</summary>
    public JournalProgress(string outputDir, int ranks, long total, IProgressReporter reporter, TimeSpan interval)
    {
        _outputDir = outputDir;
        _offsets = new long[ranks];
        _total = total;
        _phase = reporter.BeginPhase("convert", total);
        _timer = new Timer(_ => Sample(), null, interval, interval);
    }

    /// <summary>Bytes of the pieces journaled so far (at most the total).</summary>
    public long DoneBytes
    {
        get { lock (_lock) return _done; }
    }

    /// <summary>Reads the journals' new complete lines and advances the phase by their pieces' bytes.</summary>
    public void Sample()
    {
        lock (_lock)
        {
            if (_disposed) return;
            long gained = 0;
            for (int rank = 0; rank < _offsets.Length; rank++) gained += ReadNew(rank);
            gained = Math.Min(gained, _total - _done); // a piece redone after its proof failed is journaled twice
            if (gained <= 0) return;
            _done += gained;
            _phase.Advance(gained);
        }
    }

    private long ReadNew(int rank)
    {
        string path = JournalPaths.RankFile(_outputDir, rank);
        byte[] tail;
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            if (stream.Length <= _offsets[rank]) return 0;
            stream.Position = _offsets[rank];
            tail = new byte[stream.Length - _offsets[rank]];
            stream.ReadExactly(tail);
        }
        catch (IOException)
        {
            return 0; // not created yet, or removed at the end: nothing new
        }
        catch (UnauthorizedAccessException)
        {
            return 0;
        }
        int end = Array.LastIndexOf(tail, (byte)'\n') + 1; // a line still being written is read next time
        _offsets[rank] += end;
        long bytes = 0;
        foreach (string line in Encoding.UTF8.GetString(tail, 0, end).Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            try { bytes += JsonSerializer.Deserialize<JournalEntry>(line, JournalJson.Options)?.Length ?? 0; }
            catch (JsonException) { } // a line torn by a crash of an earlier run
        }
        return bytes;
    }

    /// <summary>Stops the timer, takes a last look and ends the phase (its final line or bar).</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _ending, 1) == 1) return;
        using (var stopped = new ManualResetEvent(false))
        {
            if (_timer.Dispose(stopped)) stopped.WaitOne();
        }
        Sample();
        lock (_lock) _disposed = true;
        _phase.Dispose();
    }
}
