using System.Text.RegularExpressions;

namespace Ckptmpi.Tests.Conversion.Estimate;

/// <summary>
/// The table DeepSpeed printed for Llama-3.3-70B-Instruct (AutoModel, 12 GPUs per node, 4 nodes), as recorded in
/// tests/fixtures/configs/README.md, read from that file so the test follows the fixture, not a copy of it.
/// </summary>
internal sealed record DeepSpeedReferenceTable(int GpusPerNode, int Nodes, long TotalMillions, long LargestMillions, IReadOnlyList<(string Cpu, string Gpu, string Options)> Rows)
{
    public static DeepSpeedReferenceTable Load()
    {
        string readme = File.ReadAllText(Path.Combine(TestPaths.Fixtures, "configs", "README.md"));
        Match setup = Regex.Match(readme, @"num_gpus_per_node=(\d+), num_nodes=(\d+)");
        Match sizes = Regex.Match(readme, @"for (\d+)M total and (\d+)M largest-layer parameters");
        Assert.That(setup.Success && sizes.Success, "README.md no longer states the setup and sizes of its DeepSpeed table");
        var rows = Regex.Matches(readme, @"^\|\s*([\d.]+GB)\s*\|\s*([\d.]+GB)\s*\|\s*(offload_param=[^|]*?)\s*\|\s*$", RegexOptions.Multiline)
            .Select(m => (m.Groups[1].Value, m.Groups[2].Value, m.Groups[3].Value)).ToList();
        Assert.That(rows, Has.Count.EqualTo(6), "README.md should hold the six ZeRO-3 option rows");
        return new DeepSpeedReferenceTable(int.Parse(setup.Groups[1].Value), int.Parse(setup.Groups[2].Value),
            long.Parse(sizes.Groups[1].Value), long.Parse(sizes.Groups[2].Value), rows);
    }

    /// <summary>
    /// The text DeepSpeed printed, rebuilt from the README's cells with its print format
    /// (<c>f" {cpu:7.2f}GB | {gpu:6.2f}GB | {options}"</c>). A Markdown cell drops the padding DeepSpeed puts after
    /// "cpu" (<c>f'{OffloadDeviceEnum.cpu:4}'</c>), so "=cpu," in a cell was "=cpu ," on the terminal.
    /// </summary>
    public string ExpectedDeepSpeedText()
    {
        var lines = new List<string>
        {
            "Estimated memory needed for params, optim states and gradients for a:",
            $"HW: Setup with {Nodes} {(Nodes > 1 ? "nodes" : "node")}, {GpusPerNode} {(GpusPerNode > 1 ? "GPUs" : "GPU")} per node.",
            $"SW: Model with {TotalMillions}M total params, {LargestMillions}M largest layer params.",
            "  per CPU  |  per GPU |   Options",
        };
        foreach (var (cpu, gpu, options) in Rows)
            lines.Add($" {cpu[..^2],7}GB | {gpu[..^2],6}GB | {options.Replace("=cpu,", "=cpu ,")}");
        return string.Join("\n", lines) + "\n";
    }
}
