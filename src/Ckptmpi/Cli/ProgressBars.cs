using Ckptmpi.Parallel;
using Spectre.Console;

namespace Ckptmpi.Cli;

/// <summary>
/// Live progress bars on stderr (Spectre.Console) for a person at a terminal. Spectre's Progress runs its own
/// render loop inside <c>Start</c>, so each phase runs that loop on a background thread until it is disposed.
/// </summary>
public sealed class ProgressBars : IProgressReporter
{
    private readonly IAnsiConsole _console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });

    public IProgressPhase BeginPhase(string name, long total) => new Phase(_console, name, total);

    private sealed class Phase : IProgressPhase
    {
        private readonly ManualResetEventSlim _started = new();
        private readonly ManualResetEventSlim _ended = new();
        private readonly Thread _thread;
        private ProgressTask? _task;

        public Phase(IAnsiConsole console, string name, long total)
        {
            _thread = new Thread(() => new Progress(console)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new TransferSpeedColumn(), new RemainingTimeColumn())
                .Start(ctx =>
                {
                    _task = ctx.AddTask(name, maxValue: Math.Max(total, 1));
                    _started.Set();
                    while (!_ended.Wait(200)) ctx.Refresh();
                    _task.StopTask();
                    ctx.Refresh();
                }))
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
