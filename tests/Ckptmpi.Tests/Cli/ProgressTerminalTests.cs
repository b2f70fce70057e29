using System.Text.RegularExpressions;
using Ckptmpi.Conversion.Demo;

namespace Ckptmpi.Tests.Cli;

/// <summary>
/// The real program in a real terminal: <c>ckptmpi convert</c> runs in a tmux pane (TERM=xterm, as a person's
/// terminal) and the pane's text must show the live progress bar with its percentage.
/// </summary>
public sealed class ProgressTerminalTests
{
    private const string Tmux = "/usr/bin/tmux";

    [Test]
    public void Convert_in_a_terminal_draws_a_progress_bar_with_a_percentage()
    {
        if (!File.Exists(Tmux)) Assert.Ignore("tmux is not installed here (tests/install-deps.sh installs it)");
        string dir = TestPaths.NewTempDir();
        string socket = $"ckptmpi-test-{Environment.ProcessId}-{Guid.NewGuid():N}";
        var env = new Dictionary<string, string?> { ["TERM"] = "xterm" };
        try
        {
            string model = Path.Combine(dir, "model"), output = Path.Combine(dir, "out");
            new DemoModel { HiddenSize = 64, IntermediateSize = 172, Layers = 2, VocabSize = 500, Heads = 4, KvHeads = 2, MaxShardBytes = 200_000 }.Write(model);
            // The pane's shell reports the exit code and then stays, so the last screen can be read after the program ends.
            string command = $"env TERM=xterm dotnet '{TestPaths.CkptmpiDll}' convert --from hf --to hf --dtype fp32 --max-buffer 64KiB "
                             + $"--input '{model}' --output '{output}'; echo \"ckptmpi exit $?\"; sleep 600";
            var started = TestPaths.RunProcess(Tmux, ["-L", socket, "-f", "/dev/null", "new-session", "-d", "-s", "t", "-x", "150", "-y", "40", command], env, 30);
            Assert.That(started.ExitCode, Is.EqualTo(0), started.Stderr);

            string screen = "";
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(120);
            while (DateTime.UtcNow < deadline && !screen.Contains("ckptmpi exit", StringComparison.Ordinal))
            {
                Thread.Sleep(200);
                screen = TestPaths.RunProcess(Tmux, ["-L", socket, "capture-pane", "-p", "-t", "t"], env, 30).Stdout;
            }
            Assert.That(screen, Does.Contain("ckptmpi exit 0"), screen);
            Assert.That(Regex.IsMatch(screen, @"convert\s.*\s100%"), Is.True, $"no 'convert ... 100%' bar on the screen:\n{screen}");
        }
        finally
        {
            TestPaths.RunProcess(Tmux, ["-L", socket, "kill-server"], env, 30);
            Directory.Delete(dir, recursive: true);
        }
    }
}
