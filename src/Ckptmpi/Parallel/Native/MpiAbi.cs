using System.Runtime.InteropServices;

namespace Ckptmpi.Parallel.Native;

/// <summary>
/// The constants that differ between the two MPI ABIs we load (docs/mpi.md): handles, sentinels and
/// string lengths. Every handle and sentinel the binding passes comes from here, never from a literal (sentinels such as MPI_IN_PLACE differ).
/// <list type="bullet">
/// <item><see cref="Mpich"/>: MPICH, Intel MPI, Cray MPICH, MVAPICH (libmpi.so.12 / libmpich.so.12); handles are
/// fixed 32-bit values from mpich's mpi.h.</item>
/// <item><see cref="OpenMpi"/>: Open MPI (libmpi.so.40); handles are the addresses of exported globals.</item>
/// </list>
/// </summary>
internal sealed class MpiAbi
{
    /// <summary>Open MPI's <c>MPI_Comm_world</c> global; its presence identifies the Open MPI ABI.</summary>
    public const string OpenMpiMarkerSymbol = "ompi_mpi_comm_world";

    /// <summary>Thread levels are the same in both ABIs.</summary>
    public const int ThreadSingle = 0, ThreadFunneled = 1, ThreadSerialized = 2, ThreadMultiple = 3;

    /// <summary>Large enough for either ABI's MPI_Status (20 or 24 bytes).</summary>
    public const int StatusBufferBytes = 32;

    public required MpiAbiFamily Family { get; init; }
    public required nint CommWorld { get; init; }
    public required nint Byte { get; init; }
    public required nint Int64 { get; init; }
    public required nint Double { get; init; }
    public required nint OpSum { get; init; }
    public required nint OpMax { get; init; }
    public required nint OpMin { get; init; }
    public required nint ErrorsReturn { get; init; }

    /// <summary><c>MPI_IN_PLACE</c>: (void*)-1 in MPICH, (void*)1 in Open MPI.</summary>
    public required nint InPlace { get; init; }

    /// <summary><c>MPI_STATUS_IGNORE</c>: (MPI_Status*)1 in MPICH, NULL in Open MPI.</summary>
    public required nint StatusIgnore { get; init; }

    /// <summary><c>MPI_PROC_NULL</c>: -1 in MPICH, -2 in Open MPI. Send to or receive from it is a no-op.</summary>
    public required int ProcNull { get; init; }

    public required int MaxLibraryVersionString { get; init; }
    public required int MaxErrorString { get; init; }
    public required int MaxProcessorName { get; init; }

    /// <summary>The MPICH ABI (MPICH ≥ 3.1, Intel MPI ≥ 5, Cray MPICH, MVAPICH2): values from MPICH 4.0.2's mpi.h.</summary>
    public static MpiAbi Mpich { get; } = new()
    {
        Family = MpiAbiFamily.Mpich,
        CommWorld = 0x44000000,
        Byte = 0x4c00010d,
        Int64 = 0x4c00083a,
        Double = 0x4c00080b,
        OpMax = 0x58000001,
        OpMin = 0x58000002,
        OpSum = 0x58000003,
        ErrorsReturn = 0x54000001,
        InPlace = -1,
        StatusIgnore = 1,
        ProcNull = -1,
        MaxLibraryVersionString = 8192,
        MaxErrorString = 512,
        MaxProcessorName = 128,
    };

    /// <summary>The Open MPI ABI: handles are addresses of globals exported by <paramref name="library"/>.</summary>
    /// <exception cref="EntryPointNotFoundException">The library lacks one of the globals (not Open MPI 3-5).</exception>
    public static MpiAbi OpenMpi(nint library) => new()
    {
        Family = MpiAbiFamily.OpenMpi,
        CommWorld = NativeLibrary.GetExport(library, OpenMpiMarkerSymbol),
        Byte = NativeLibrary.GetExport(library, "ompi_mpi_byte"),
        Int64 = NativeLibrary.GetExport(library, "ompi_mpi_int64_t"),
        Double = NativeLibrary.GetExport(library, "ompi_mpi_double"),
        OpSum = NativeLibrary.GetExport(library, "ompi_mpi_op_sum"),
        OpMax = NativeLibrary.GetExport(library, "ompi_mpi_op_max"),
        OpMin = NativeLibrary.GetExport(library, "ompi_mpi_op_min"),
        ErrorsReturn = NativeLibrary.GetExport(library, "ompi_mpi_errors_return"),
        InPlace = 1,
        StatusIgnore = 0,
        ProcNull = -2,
        MaxLibraryVersionString = 256,
        MaxErrorString = 256,
        MaxProcessorName = 256,
    };

    /// <summary>Picks the table for a loaded library by looking for Open MPI's marker global.</summary>
    public static MpiAbi Detect(nint library) =>
        NativeLibrary.TryGetExport(library, OpenMpiMarkerSymbol, out _) ? OpenMpi(library) : Mpich;

    public nint Op(ReduceOp op) => op switch
    {
        ReduceOp.Sum => OpSum,
        ReduceOp.Max => OpMax,
        ReduceOp.Min => OpMin,
        _ => throw new ArgumentOutOfRangeException(nameof(op), op, null),
    };
}
