using System.CommandLine;
using System.Diagnostics;
using System.Runtime.InteropServices;
using Ckptmpi.Parallel;
using Ckptmpi.Parallel.SelfTest;
using Serilog;

namespace Ckptmpi.Cli.Commands;

/// <summary>
/// <c>ckptmpi mpi-selftest</c> (hidden from --help; a diagnostic for new clusters and for our own tests): runs the
/// collective conformance suite (the same checks NUnit runs over ThreadCommunicator) over this job's real
/// communicator, plus the MPI-specific traps (docs/mpi.md): a NullReferenceException after MPI_Init
/// and, with --large-bytes, a message larger than 2 GiB. Rank 0 prints one "PASS name" line per check on stdout.
/// --throw-on-rank and --kill-rank make one rank fail on purpose, to test how the job ends.
/// </summary>
public static class MpiSelfTestCommand
{
    public static Command Create()
    {
        var largeBytes = new Option<long>("--large-bytes") { Description = "Also Bcast and Gatherv a message of this many bytes (native memory on every rank; e.g. 2254857830 for 2.1 GiB)." };
        var throwOnRank = new Option<int?>("--throw-on-rank") { Description = "That rank throws after start-up while the others wait in a barrier." };
        var killRank = new Option<int?>("--kill-rank") { Description = "That rank kills itself with SIGKILL while the others wait in a barrier." };
        var failAtEndRank = new Option<int?>("--fail-at-end-on-rank") { Description = "That rank throws an I/O error after all checks, in step with the others (the job must end with exit code 5 on every rank)." };
        var threadThrowRank = new Option<int?>("--throw-in-thread-on-rank") { Description = "That rank throws on a background thread (an unhandled exception) while the others wait in a barrier." };
        var command = new Command("mpi-selftest", "Run the collective conformance checks over this job's communicator (diagnostic).")
        {
            Hidden = true,
        };
        command.Options.Add(largeBytes);
        command.Options.Add(throwOnRank);
        command.Options.Add(killRank);
        command.Options.Add(threadThrowRank);
        command.Options.Add(failAtEndRank);
        command.SetAction(parse => JobRunner.Run(comm =>
        {
            int code = Run(comm, parse.GetValue(largeBytes), parse.GetValue(throwOnRank), parse.GetValue(killRank), parse.GetValue(threadThrowRank));
            if (parse.GetValue(failAtEndRank) == comm.Rank) throw new IOException("deliberate I/O failure at the end (--fail-at-end-on-rank)");
            return code;
        }));
        return command;
    }

    private static int Run(ICommunicator comm, long largeBytes, int? throwOnRank, int? killRank, int? threadThrowRank)
    {
        bool[] mapped = comm.AllgatherObjects(LibMpiMapped());
        if (comm.Rank == 0)
        {
            Console.WriteLine($"world size: {comm.Size}");
            Console.WriteLine($"implementation: {comm.Implementation}");
            if (comm is MpiCommunicator mpi)
                Console.WriteLine($"library: {mpi.LibraryPath} ({mpi.Family} ABI), thread level {mpi.ThreadLevel}, large-count {(mpi.LargeCountAvailable ? "yes" : "no")}, chunk {mpi.ChunkBytes} bytes");
            Console.WriteLine($"libmpi mapped: {(mapped.Any(m => m) ? "yes" : "no")}");
            if (comm is MpiCommunicator)
                Console.WriteLine($"native environment: UCX_ERROR_SIGNALS='{NativeEnvironment.Get("UCX_ERROR_SIGNALS")}' MPICH_GPU_SUPPORT_ENABLED='{NativeEnvironment.Get("MPICH_GPU_SUPPORT_ENABLED")}'");
        }

        if (killRank == comm.Rank)
        {
            Log.Warning("killing this rank with SIGKILL (--kill-rank)");
            Log.CloseAndFlush();
            Process.GetCurrentProcess().Kill();
        }
        if (throwOnRank == comm.Rank) throw new InvalidOperationException("deliberate failure (--throw-on-rank)");
        if (threadThrowRank == comm.Rank)
        {
            var thread = new Thread(() => throw new InvalidOperationException("deliberate failure on a background thread (--throw-in-thread-on-rank)"));
            thread.Start();
            thread.Join(); // the process ends in the UnhandledException handler; the others wait in the barrier below
        }
        if (throwOnRank is not null || killRank is not null || threadThrowRank is not null)
        {
            comm.Barrier(); // the failing rank never arrives; the job must still end
            return ExitCodes.Success;
        }

        int passed = 0;
        IEnumerable<CollectiveCheck> checks = CollectiveChecks.All.Append(new CollectiveCheck("NullReferenceException after MPI init", NullReferenceSurvives));
        if (comm is MpiCommunicator) checks = checks.Append(new CollectiveCheck("MPI errors come back as MpiException", ErrorsReturn));
        foreach (CollectiveCheck check in checks)
        {
            Run(comm, check);
            passed++;
        }
        if (largeBytes > 0)
        {
            Run(comm, new CollectiveCheck($"Bcast and Gatherv of {largeBytes} bytes", c => LargeMessage.Check(c, largeBytes)));
            passed++;
        }
        if (comm is MpiCommunicator m)
        {
            // Per rank, because only the root of a Gatherv/Scatterv decides; summed so every path taken anywhere shows.
            var (direct, large, p2p) = m.VectorPathCounts;
            long[] sums = new long[3];
            comm.Allreduce([direct, large, p2p], sums, ReduceOp.Sum);
            if (comm.Rank == 0) Console.WriteLine($"vector paths: direct {sums[0]}, large-count {sums[1]}, point-to-point {sums[2]}");
        }
        if (comm.Rank == 0) Console.WriteLine($"selftest: {passed} checks passed on {comm.Size} ranks");
        return ExitCodes.Success;
    }

    private static void Run(ICommunicator comm, CollectiveCheck check)
    {
        var clock = Stopwatch.StartNew();
        check.Run(comm); // a failure throws and JobRunner aborts the job: the other ranks may be inside this check's collectives
        comm.Barrier();
        if (comm.Rank == 0) Console.WriteLine($"PASS {check.Name} ({clock.Elapsed.TotalMilliseconds:F0} ms)");
    }

    // With UCX's SIGSEGV handler installed the first NullReferenceException kills the job.
    private static void NullReferenceSurvives(ICommunicator comm)
    {
        for (int i = 0; i < 3; i++)
        {
            try
            {
                object? nothing = i < 10 ? null : new object();
                _ = nothing!.GetHashCode();
                throw new CollectiveCheckFailedException("dereferencing null did not throw");
            }
            catch (NullReferenceException)
            {
            }
            var garbage = new List<byte[]>();
            for (int j = 0; j < 64; j++) garbage.Add(new byte[1 << 20]);
            GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        }
        comm.Barrier();
    }

    // MPI_ERRORS_RETURN: an invalid call raises MpiException with the library's text.
    private static void ErrorsReturn(ICommunicator comm)
    {
        MpiException e = ((MpiCommunicator)comm).ProvokeError();
        if (e.ErrorCode == 0 || e.ErrorClass <= 0 || string.IsNullOrWhiteSpace(e.ErrorString))
            throw new CollectiveCheckFailedException($"rank {comm.Rank}: MpiException without code, class or text: {e.Message}");
        if (comm.Rank == 0) Console.WriteLine($"MPI error text: {e.Message.Split('\n')[0].Trim()}");
        comm.Barrier();
    }

    private static bool LibMpiMapped()
    {
        if (!RuntimeInformation.IsOSPlatform(OSPlatform.Linux)) return false;
        return File.ReadLines("/proc/self/maps").Any(l => l.Contains("/libmpi.so", StringComparison.Ordinal) || l.Contains("/libmpich.so", StringComparison.Ordinal));
    }
}
