using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Ckptmpi.Parallel;

namespace Ckptmpi.Cli.Commands;

/// <summary>
/// <c>ckptmpi mpi-info</c>: the first thing to run on a new cluster. Prints the MPI library (version text, ABI
/// family, file), the world size, every rank's host (gathered to rank 0), the thread level MPI granted, and a short
/// Bcast/Alltoallv bandwidth probe in GiB/s. Text by default, <c>--json</c> for scripts; output on rank 0 only.
/// </summary>
public static class MpiInfoCommand
{
    public const long DefaultProbeBytes = 64L << 20;

    public static Command Create()
    {
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of text." };
        var probeSize = new Option<long>("--probe-size")
        {
            Description = "Bytes per rank moved by the bandwidth probe (suffixes KiB, MiB, GiB; 0 skips the probe).",
            DefaultValueFactory = _ => DefaultProbeBytes,
            CustomParser = ParseSize,
        };
        var command = new Command("mpi-info", "Show the MPI library, ABI, world size, every rank's host and a short bandwidth probe.");
        command.Options.Add(json);
        command.Options.Add(probeSize);
        command.SetAction(parse => JobRunner.Run(comm => Run(comm, parse.GetValue(json), parse.GetValue(probeSize))));
        return command;
    }

    private static int Run(ICommunicator comm, bool json, long probeBytes)
    {
        var mpi = comm as MpiCommunicator;
        string[] hosts = comm.AllgatherObjects(mpi?.ProcessorName() ?? LoggingSetup.ShortHostName());
        // One rank has no peer to measure against: a Bcast to nobody would report an absurd figure.
        BandwidthProbe.Result? probe = probeBytes > 0 && comm.Size > 1 ? BandwidthProbe.Measure(comm, probeBytes) : null;
        if (comm.Rank != 0) return ExitCodes.Success;

        var report = new JsonObject
        {
            ["implementation"] = comm.Implementation,
            ["abi"] = mpi?.Family.ToString(),
            ["library"] = mpi?.LibraryPath,
            ["libraryVersion"] = mpi?.LibraryVersion,
            ["worldSize"] = comm.Size,
            ["threadLevel"] = mpi is null ? null : ThreadLevelName(mpi.ThreadLevel),
            ["largeCount"] = mpi?.LargeCountAvailable,
            ["hosts"] = new JsonArray(hosts.Select(h => (JsonNode?)JsonValue.Create(h)).ToArray()),
            ["probe"] = probe is null ? null : new JsonObject
            {
                ["bytes"] = probe.Bytes,
                ["bcastSeconds"] = probe.BcastSeconds,
                ["bcastGiBps"] = Math.Round(probe.BcastGiBps, 3),
                ["alltoallvSeconds"] = probe.AlltoallvSeconds,
                ["alltoallvGiBps"] = Math.Round(probe.AlltoallvGiBps, 3),
            },
        };
        if (json)
        {
            Console.WriteLine(report.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            return ExitCodes.Success;
        }

        Console.WriteLine($"implementation: {comm.Implementation}");
        if (mpi is not null)
        {
            Console.WriteLine($"ABI: {mpi.Family}");
            Console.WriteLine($"library: {mpi.LibraryPath}");
            Console.WriteLine($"thread level: {ThreadLevelName(mpi.ThreadLevel)}");
            Console.WriteLine($"large-count (_c) collectives: {(mpi.LargeCountAvailable ? "yes" : "no")}");
        }
        else
        {
            Console.WriteLine("MPI: not loaded (no launcher detected, or CKPTMPI_MPI=off)");
        }
        Console.WriteLine($"world size: {comm.Size}");
        foreach (var group in hosts.Select((h, r) => (h, r)).GroupBy(x => x.h))
            Console.WriteLine($"host {group.Key}: ranks {string.Join(",", group.Select(x => x.r))}");
        if (probe is null)
        {
            Console.WriteLine(comm.Size == 1 ? "bandwidth probe: skipped (one rank)" : "bandwidth probe: skipped (--probe-size 0)");
        }
        else
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"bcast {FormatBytes(probe.Bytes)}: {probe.BcastGiBps:F2} GiB/s ({probe.BcastSeconds * 1000:F1} ms)"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"alltoallv {FormatBytes(probe.Bytes)} per rank: {probe.AlltoallvGiBps:F2} GiB/s ({probe.AlltoallvSeconds * 1000:F1} ms)"));
        }
        return ExitCodes.Success;
    }

    private static string ThreadLevelName(int level) => level switch
    {
        0 => "single",
        1 => "funneled",
        2 => "serialized",
        3 => "multiple",
        _ => level.ToString(CultureInfo.InvariantCulture),
    };

    private static string FormatBytes(long bytes) =>
        bytes % (1L << 30) == 0 ? $"{bytes >> 30} GiB" : bytes % (1L << 20) == 0 ? $"{bytes >> 20} MiB" : $"{bytes} bytes";

    /// <summary>"64MiB", "1GiB", "65536", "512K": a size in bytes; an error makes the command line invalid (exit 2).</summary>
    internal static long ParseSize(ArgumentResult result)
    {
        string text = result.Tokens.Count == 1 ? result.Tokens[0].Value.Trim() : "";
        int split = text.Length;
        while (split > 0 && !char.IsDigit(text[split - 1])) split--;
        long multiplier = text[split..].ToUpperInvariant() switch
        {
            "" or "B" => 1,
            "K" or "KB" or "KIB" => 1L << 10,
            "M" or "MB" or "MIB" => 1L << 20,
            "G" or "GB" or "GIB" => 1L << 30,
            _ => -1,
        };
        if (multiplier < 0 || !long.TryParse(text[..split], NumberStyles.None, CultureInfo.InvariantCulture, out long n) || n > long.MaxValue / multiplier)
        {
            result.AddError($"'{text}' is not a size (examples: 65536, 64MiB, 1GiB)");
            return 0;
        }
        return n * multiplier;
    }
}
