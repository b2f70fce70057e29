using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;
using System.Text;
using Ckptmpi.Parallel.Native;
using Serilog;

namespace Ckptmpi.Parallel;

/// <summary>
/// <see cref="ICommunicator"/> over the system libmpi (MPICH ABI or Open MPI, chosen at run time). Every method is
/// convert, call, <see cref="Check"/>: 64-bit lengths are narrowed with <c>checked</c> or split into chunks of at
/// most <see cref="MpiOptions.ChunkBytes"/>, never truncated. Calls are serialized behind one lock (thread level
/// SERIALIZED). Errors come back as <see cref="MpiException"/> because MPI_COMM_WORLD uses MPI_ERRORS_RETURN.
/// </summary>
public sealed unsafe partial class MpiCommunicator : ICommunicator
{
    private static bool s_initialized;

    /// <summary>One lock for every MPI call of the process (thread level SERIALIZED).</summary>
    private static readonly object s_gate = new();
    private readonly MpiLibrary _library;
    private readonly MpiAbi _abi;
    private readonly MpiOptions _options;
    private readonly nint _world;
    private readonly int _initThread;
    private bool _finalized;

    /// <summary>A duplicate of MPI_COMM_WORLD used only for the end-of-job agreement (MpiCommunicator.Agreement.cs).</summary>
    private nint _agreementComm;

    private MpiCommunicator(MpiLibrary library, MpiOptions options, int rank, int size, int threadLevel)
    {
        _library = library;
        _abi = library.Abi;
        _options = options;
        _world = _abi.CommWorld;
        _initThread = Environment.CurrentManagedThreadId;
        Rank = rank;
        Size = size;
        ThreadLevel = threadLevel;
    }

    public int Rank { get; }

    public int Size { get; }

    public string Implementation => $"{_library.VersionLine} ({Family} ABI)";

    public MpiAbiFamily Family => _abi.Family;

    /// <summary>The libmpi file that is mapped.</summary>
    public string LibraryPath => _library.Path;

    /// <summary>MPI_Get_library_version, whole text.</summary>
    public string LibraryVersion => _library.Version;

    /// <summary>The thread level MPI granted (0 single, 1 funneled, 2 serialized, 3 multiple).</summary>
    public int ThreadLevel { get; }

    /// <summary>Whether MPI-4 large-count collectives are exported and enabled.</summary>
    public bool LargeCountAvailable => _library.LargeCount.Available;

    public long ChunkBytes => _options.ChunkBytes;

    /// <summary>
    /// Loads libmpi, initializes MPI (thread level SERIALIZED), switches MPI_COMM_WORLD to MPI_ERRORS_RETURN and
    /// checks that MPI's world is the launcher's world.
    /// </summary>
    /// <exception cref="MpiEnvironmentException">libmpi missing, wrong family for the launcher, or thread level too low.</exception>
    public static MpiCommunicator Initialize(LauncherEnvironment launcher, MpiOptions options, ILogger log)
    {
        if (s_initialized) throw new InvalidOperationException("MPI is initialized once per process");
        MpiLibrary library = MpiLibrary.Load(launcher, options.Library, options.UseLargeCount, log);
        MpiAbi abi = library.Abi;
        int provided = 0, rank = 0, size = 0;
        int rc = LibMpi.MPI_Init_thread(null, null, MpiAbi.ThreadSerialized, &provided);
        if (rc != 0) throw new MpiEnvironmentException($"MPI_Init_thread failed with code {rc} ({library.VersionLine}, {library.Path})");
        s_initialized = true;
        var comm = new MpiCommunicator(library, options, 0, 1, provided);
        comm.Check(LibMpi.MPI_Comm_set_errhandler(abi.CommWorld, abi.ErrorsReturn), "MPI_Comm_set_errhandler");
        comm.Check(LibMpi.MPI_Comm_rank(abi.CommWorld, &rank), "MPI_Comm_rank");
        comm.Check(LibMpi.MPI_Comm_size(abi.CommWorld, &size), "MPI_Comm_size");
        comm = new MpiCommunicator(library, options, rank, size, provided);

        // The other family's library initializes as N silent singletons; the launcher knows the real size.
        if (launcher.Size is { } expected && (expected != size || launcher.Rank != rank))
        {
            comm.Dispose();
            throw new MpiEnvironmentException(
                $"MPI reports rank {rank} of {size} but the launcher ({launcher.Launcher}) started rank {launcher.Rank} of {expected}: " +
                $"the loaded libmpi ({library.Path}, {abi.Family} ABI, \"{library.VersionLine}\") is not the MPI this job was launched with. " +
                "Launch with the mpiexec of the same MPI, or set CKPTMPI_MPI_LIB to that MPI's libmpi.");
        }
        if (provided < MpiAbi.ThreadFunneled)
        {
            comm.Dispose();
            throw new MpiEnvironmentException($"MPI granted thread level {provided}; ckptmpi needs at least FUNNELED (1). On Cray set MPICH_MAX_THREAD_SAFETY=serialized.");
        }
        nint dup = 0;
        comm.Check(LibMpi.MPI_Comm_dup(abi.CommWorld, &dup), "MPI_Comm_dup");
        comm._agreementComm = dup;
        if (rank == 0)
        {
            log.Information("MPI: {Version} ({Family} ABI) from {Path}; {Size} ranks, thread level {Level}; launcher {Launcher}",
                library.VersionLine, abi.Family, library.Path, size, provided, launcher.Launcher);
        }
        return comm;
    }

    /// <summary>This rank's host, from MPI_Get_processor_name.</summary>
    public string ProcessorName()
    {
        byte[] name = new byte[_abi.MaxProcessorName + 1];
        int length = 0;
        int rc;
        fixed (byte* p = name)
        {
            using (Enter("MPI_Get_processor_name")) rc = LibMpi.MPI_Get_processor_name(p, &length);
        }
        Check(rc, "MPI_Get_processor_name");
        return Encoding.UTF8.GetString(name, 0, Math.Clamp(length, 0, name.Length));
    }

    /// <summary>
    /// Makes one deliberately invalid MPI call (a negative count) and returns what came back, for the self-test:
    /// with MPI_ERRORS_RETURN on MPI_COMM_WORLD it must be an <see cref="MpiException"/>, not a dead job.
    /// </summary>
    internal MpiException ProvokeError()
    {
        byte dummy = 0;
        int rc;
        using (Enter("MPI_Bcast")) rc = LibMpi.MPI_Bcast(&dummy, -1, _abi.Byte, 0, _world);
        try
        {
            Check(rc, "MPI_Bcast");
        }
        catch (MpiException e)
        {
            return e;
        }
        throw new InvalidOperationException("MPI_Bcast with a negative count returned MPI_SUCCESS");
    }

    public void Barrier()
    {
        int rc;
        using (Enter("MPI_Barrier")) rc = LibMpi.MPI_Barrier(_world);
        Check(rc, "MPI_Barrier");
    }

    public void Bcast(NativeBuffer buffer, int root) => BcastOn(_world, buffer, root);

    private void BcastOn(nint comm, NativeBuffer buffer, int root)
    {
        CheckRank(root);
        for (long offset = 0; offset < buffer.Length; offset += _options.ChunkBytes)
        {
            int n = ChunkAt(offset, buffer.Length), rc;
            using (Enter("MPI_Bcast")) rc = LibMpi.MPI_Bcast(buffer.Pointer + offset, n, _abi.Byte, root, comm);
            Check(rc, "MPI_Bcast");
        }
    }

    public void Allreduce(ReadOnlySpan<long> send, Span<long> receive, ReduceOp op)
    {
        fixed (long* s = send)
        fixed (long* r = receive)
            Allreduce(s, r, send.Length, receive.Length, sizeof(long), _abi.Int64, op, send.Overlaps(receive));
    }

    public void Allreduce(ReadOnlySpan<double> send, Span<double> receive, ReduceOp op)
    {
        fixed (double* s = send)
        fixed (double* r = receive)
            Allreduce(s, r, send.Length, receive.Length, sizeof(double), _abi.Double, op, send.Overlaps(receive));
    }

    public void Allgather(NativeBuffer send, NativeBuffer receive)
    {
        long block = send.Length;
        if (receive.Length != checked(block * Size))
            throw new ArgumentException($"Allgather: the receive buffer has {receive.Length} bytes but {Size} ranks x {block} bytes = {block * Size}");
        if (block <= _options.IntLimit)
        {
            int n = checked((int)block), rc;
            using (Enter("MPI_Allgather")) rc = LibMpi.MPI_Allgather(send.Pointer, n, _abi.Byte, receive.Pointer, n, _abi.Byte, _world);
            Check(rc, "MPI_Allgather");
            return;
        }
        // Blocks too large for an int count: every rank broadcasts its own block in chunks.
        Buffer.MemoryCopy(send.Pointer, receive.Pointer + Rank * block, block, block);
        for (int r = 0; r < Size; r++) Bcast(receive.Slice(r * block, block), r);
    }

    private static readonly TimeSpan AbortGrace = TimeSpan.FromMilliseconds(250);

    /// <summary>Ends every rank of the job with <paramref name="exitCode"/> (MPI_Abort). Not serialized: it must work while another thread is blocked in MPI.</summary>
    [DoesNotReturn]
    public void Abort(int exitCode, string reason)
    {
        Log.Error("aborting the MPI job with exit code {ExitCode}: {Reason}", exitCode, reason);
        Log.CloseAndFlush();
        // The reason is on our stderr pipe, but the launcher's I/O forwarder (Hydra's proxy, orted) is torn down by
        // MPI_Abort and can drop what it has not read yet: give it a moment so the user sees why the job died.
        Thread.Sleep(AbortGrace);
        if (!Volatile.Read(ref _finalized)) LibMpi.MPI_Abort(_world, exitCode);
        Environment.Exit(exitCode); // MPI_Abort does not return; this is for a library that does
        throw new UnreachableException();
    }

    /// <summary>MPI_Finalize (once). Every rank must call it, or the launcher fails the job even with exit code 0.</summary>
    public void Dispose()
    {
        lock (s_gate)
        {
            if (_finalized) return;
            _finalized = true;
            int flag = 0;
            if (LibMpi.MPI_Finalized(&flag) != 0 || flag != 0) return;
            if (_agreementComm != 0)
            {
                nint dup = _agreementComm;
                _agreementComm = 0;
                Check(LibMpi.MPI_Comm_free(&dup), "MPI_Comm_free");
            }
            Check(LibMpi.MPI_Finalize(), "MPI_Finalize");
        }
    }

    private void Allreduce(void* send, void* receive, int sendCount, int receiveCount, int elementSize, nint datatype, ReduceOp op, bool overlap)
    {
        if (sendCount != receiveCount) throw new ArgumentException($"Allreduce: {sendCount} values sent but {receiveCount} to receive");
        // The same memory as send and receive is MPI_IN_PLACE (an aliased send buffer is an MPI error); the
        // sentinel differs per ABI.
        if (overlap && send != receive)
        {
            long bytes = (long)sendCount * elementSize;
            byte[] copy = GC.AllocateUninitializedArray<byte>(checked((int)bytes));
            fixed (byte* c = copy)
            {
                Buffer.MemoryCopy(send, c, bytes, bytes);
                Allreduce(c, receive, sendCount, receiveCount, elementSize, datatype, op, overlap: false);
            }
            return;
        }
        long chunkElements = Math.Max(1, _options.ChunkBytes / elementSize);
        nint o = _abi.Op(op);
        for (long done = 0; done < sendCount; done += chunkElements)
        {
            int n = (int)Math.Min(chunkElements, sendCount - done);
            void* s = overlap ? (void*)_abi.InPlace : (byte*)send + done * elementSize;
            void* r = (byte*)receive + done * elementSize;
            int rc;
            using (Enter("MPI_Allreduce")) rc = LibMpi.MPI_Allreduce(s, r, n, datatype, o, _world);
            Check(rc, "MPI_Allreduce");
        }
    }

    /// <summary>The length of the chunk at <paramref name="offset"/> of a <paramref name="length"/>-byte message.</summary>
    private int ChunkAt(long offset, long length) => checked((int)Math.Min(_options.ChunkBytes, length - offset));

    /// <summary>Takes the MPI lock (SERIALIZED: one MPI call at a time); dispose to release.</summary>
    private Serialized Enter(string function)
    {
        Monitor.Enter(s_gate);
        if (_finalized)
        {
            Monitor.Exit(s_gate);
            throw new ObjectDisposedException(nameof(MpiCommunicator), $"{function} after MPI_Finalize");
        }
        if (ThreadLevel < MpiAbi.ThreadSerialized && Environment.CurrentManagedThreadId != _initThread)
        {
            // FUNNELED (e.g. a Cray MPICH_MAX_THREAD_SAFETY cap): only the thread that initialized MPI may call it.
            Monitor.Exit(s_gate);
            throw new InvalidOperationException($"{function} called from thread {Environment.CurrentManagedThreadId} but MPI granted only FUNNELED to thread {_initThread}");
        }
        return new Serialized(s_gate);
    }

    private readonly ref struct Serialized(object gate)
    {
        public void Dispose() => Monitor.Exit(gate);
    }

    private void Check(int rc, string function)
    {
        if (rc == 0) return;
        int errorClass = -1, length = 0;
        byte[] text = new byte[_abi.MaxErrorString + 1];
        string message;
        fixed (byte* p = text)
        {
            LibMpi.MPI_Error_class(rc, &errorClass);
            message = LibMpi.MPI_Error_string(rc, p, &length) == 0
                ? Encoding.UTF8.GetString(text, 0, Math.Clamp(length, 0, text.Length)).TrimEnd('\0')
                : "(no error string)";
        }
        throw new MpiException(function, rc, errorClass, message);
    }

    private void CheckRank(int rank)
    {
        if ((uint)rank >= (uint)Size) throw new ArgumentOutOfRangeException(nameof(rank), rank, $"not a rank of this {Size}-rank world");
    }

}
