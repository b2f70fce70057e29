using System.Diagnostics;
using Ckptmpi.Cli;
using Spectre.Console;

namespace Ckptmpi.Tests.Cli;

public sealed class ProgressBarsTests
{
    [Test]
    public void A_phase_renders_its_name_and_percentage_and_completes_promptly_when_disposed()
    {
        // Bars are for a person at a terminal; tests/run-all.sh exports TERM=dumb (as the job scripts do), under which
        // Spectre renders no live display. Give this test the terminal it models.
        string? term = Environment.GetEnvironmentVariable("TERM");
        Environment.SetEnvironmentVariable("TERM", "xterm-256color");
        try { RenderAndCheck(); }
        finally { Environment.SetEnvironmentVariable("TERM", term); }
    }

    private static void RenderAndCheck()
    {
        var text = new StringWriter();
        IAnsiConsole console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(text),
            Ansi = AnsiSupport.Yes,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.Yes,
        });
        var clock = Stopwatch.StartNew();
        using (var phase = new ProgressBars(console).BeginPhase("convert", 1000))
        {
            for (int i = 0; i < 10; i++) phase.Advance(100);
        }
        Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(5)));
        Assert.That(text.ToString(), Does.Contain("convert").And.Contain("100%"));
    }
}
