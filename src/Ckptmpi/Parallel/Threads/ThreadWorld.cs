using System.Text;

namespace Ckptmpi.Parallel.Threads;

/// <summary>
/// The state the ranks of one <see cref="ThreadCommunicator.Run(int, Action{ICommunicator}, TimeSpan?)"/> share:
/// one slot per rank and a barrier that can be broken. The barrier is hand-made rather than
/// <see cref="Barrier"/> so that a wait ends with an exception (never a hang) when another rank failed, when a
/// rank returned while others wait in a collective (a collective called by some ranks only), or at the deadline.
/// </summary>
internal sealed class ThreadWorld(int size, TimeSpan timeout)
{
    private readonly object _gate = new();
    private readonly DateTime _deadline = DateTime.UtcNow + timeout;
    private readonly string?[] _waitingIn = new string?[size];
    private readonly bool[] _returned = new bool[size];
    private int _arrived;
    private long _generation;
    private Exception? _failure;

    public int Size { get; } = size;

    public Contribution[] Slots { get; } = new Contribution[size];

    /// <summary>Why the world stopped, or null while it runs.</summary>
    public Exception? Failure { get { lock (_gate) return _failure; } }

    /// <summary>Stops the world: every rank waiting now or later throws. The first failure wins.</summary>
    public void Fail(Exception reason)
    {
        lock (_gate)
        {
            _failure ??= reason;
            Monitor.PulseAll(_gate);
        }
    }

    /// <summary>A rank's body returned; ranks still waiting for it can never complete their collective.</summary>
    public void MarkReturned(int rank)
    {
        lock (_gate)
        {
            _returned[rank] = true;
            Monitor.PulseAll(_gate);
        }
    }

    /// <summary>Waits until every rank has arrived (the barrier of each collective's two phases).</summary>
    public void Arrive(int rank, string operation)
    {
        lock (_gate)
        {
            ThrowIfFailed(rank);
            long generation = _generation;
            if (++_arrived == Size)
            {
                _arrived = 0;
                _generation++;
                Monitor.PulseAll(_gate);
                return;
            }

            _waitingIn[rank] = operation;
            try
            {
                while (generation == _generation)
                {
                    ThrowIfFailed(rank);
                    int[] gone = Enumerable.Range(0, Size).Where(r => _returned[r]).ToArray();
                    if (gone.Length > 0)
                    {
                        var e = new InvalidOperationException(
                            $"rank {rank} waits in {operation} but rank(s) {string.Join(", ", gone)} already returned: " +
                            "every rank must call the same collectives in the same order");
                        _failure ??= e;
                        Monitor.PulseAll(_gate);
                        throw e;
                    }

                    TimeSpan left = _deadline - DateTime.UtcNow;
                    if (left <= TimeSpan.Zero)
                    {
                        var e = new TimeoutException($"in-process world did not finish within its time limit; {DescribeWaits()}");
                        _failure ??= e;
                        Monitor.PulseAll(_gate);
                        throw e;
                    }

                    Monitor.Wait(_gate, left < TimeSpan.FromSeconds(1) ? left : TimeSpan.FromSeconds(1));
                }
            }
            finally
            {
                _waitingIn[rank] = null;
            }
        }
    }

    private readonly JobOutcome?[] _outcomes = new JobOutcome?[size];
    private int _agreed;

    /// <summary>
    /// The end-of-job agreement (<see cref="IOutcomeAgreement"/>): separate from the collective barrier, so a
    /// failing rank arriving here is never mistaken for a peer of a collective. A failing rank gives up after
    /// <paramref name="failedRankWait"/>; a succeeding rank waits until everyone arrives or the world stops.
    /// </summary>
    public bool Agree(int rank, JobOutcome? failure, TimeSpan failedRankWait, out JobOutcome? agreed)
    {
        DateTime giveUp = DateTime.UtcNow + failedRankWait;
        lock (_gate)
        {
            _outcomes[rank] = failure;
            _agreed++;
            Monitor.PulseAll(_gate);
            while (_agreed < Size)
            {
                ThrowIfFailed(rank);
                DateTime now = DateTime.UtcNow;
                if (failure is not null && now >= giveUp)
                {
                    agreed = null;
                    return false;
                }
                if (now >= _deadline)
                {
                    var e = new TimeoutException($"in-process world did not finish within its time limit; {DescribeWaits()}");
                    _failure ??= e;
                    Monitor.PulseAll(_gate);
                    throw e;
                }
                Monitor.Wait(_gate, TimeSpan.FromMilliseconds(50));
            }
            agreed = _outcomes.FirstOrDefault(o => o is not null);
            return true;
        }
    }

    private void ThrowIfFailed(int rank)
    {
        if (_failure is not null) throw new WorldStoppedException(rank, _failure);
    }

    private string DescribeWaits()
    {
        var b = new StringBuilder();
        for (int r = 0; r < Size; r++)
        {
            if (b.Length > 0) b.Append("; ");
            b.Append($"rank {r}: {(_returned[r] ? "returned" : _waitingIn[r] is { } op ? $"waiting in {op}" : "running")}");
        }
        return b.ToString();
    }
}
