using Ckptmpi.Parallel;
using Spectre.Console;

namespace Ckptmpi.Cli;

/// <summary>
/// Live progress bars on stderr (Spectre.Console) for a person at a terminal. Spectre's Progress runs its own
/// render loop inside <c>Start</c>, so each phase runs that loop on a background thread until it is disposed.
/// </summary>
public sealed class ProgressBars : IProgressReporter
{
    private readonly IAnsiConsole _console;

    /// <summary>Bars on stderr.</summary>
    public ProgressBars()
        : this(AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) }))
    {
    }

    /// <summary>Bars on <paramref name="console"/> (tests render into a string).</summary>
    public ProgressBars(IAnsiConsole console) => _console = console;

    public IProgressPhase BeginPhase(string name, long total) => new Phase(_console, name, total);

    private sealed class Phase : IProgressPhase
    {
        private readonly ManualResetEventSlim _started = new();
        private readonly ManualResetEventSlim _ended = new();
        private readonly Thread _thread;
        private ProgressTask? _task;

        public Phase(IAnsiConsole console, string name, long total)
        {
            // Only Spectre's own refresh loop renders: an explicit ctx.Refresh() from this thread raced with it inside
            // Spectre's LiveRenderable (seen crashing a test host). Spectre renders the final state after Start's body.
            // Progress is cosmetic: a rendering failure is logged and must never take the conversion down.
            _thread = new Thread(() =>
            {
                try
                {
                    new Progress(console)
                        .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new TransferSpeedColumn(), new RemainingTimeColumn())
                        .Start(ctx =>
                        {
                            _task = ctx.AddTask(name, maxValue: Math.Max(total, 1));
                            _started.Set();
                            _ended.Wait();
                            _task.StopTask();
                        });
                }
                catch (Exception e)
                {
                    Serilog.Log.Debug(e, "progress display failed; continuing without it");
                }
                finally
                {
                    _started.Set();
                }
            })
            { IsBackground = true, Name = "progress" };
            _thread.Start();
            _started.Wait(TimeSpan.FromSeconds(5));
        }

        public void Advance(long done) => _task?.Increment(done);

        public void Dispose()
        {
            _ended.Set();
            _thread.Join(TimeSpan.FromSeconds(5));
        }
    }
}
