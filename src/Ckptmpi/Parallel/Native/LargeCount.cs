using System.Runtime.InteropServices;

namespace Ckptmpi.Parallel.Native;

/// <summary>
/// The MPI-4 large-count (<c>_c</c>) collectives, resolved with <see cref="NativeLibrary.TryGetExport"/> because
/// they are optional: MPICH 4 exports them, Open MPI before 6.0 and Cray MPICH 8.1 do not
/// (docs/mpi.md). A missing export is a null pointer and the caller falls back to chunked point-to-point exchanges.
/// Counts are <c>MPI_Count</c> and displacements <c>MPI_Aint</c>, both 64-bit in every ABI we load.
/// </summary>
internal sealed unsafe class LargeCount
{
    public delegate* unmanaged<void*, long, nint, void*, long*, long*, nint, int, nint, int> MPI_Gatherv_c { get; private init; }
    public delegate* unmanaged<void*, long*, long*, nint, void*, long, nint, int, nint, int> MPI_Scatterv_c { get; private init; }
    public delegate* unmanaged<void*, long*, long*, nint, void*, long*, long*, nint, nint, int> MPI_Alltoallv_c { get; private init; }

    /// <summary>True when every large-count collective we use is exported.</summary>
    public bool Available => MPI_Gatherv_c != null && MPI_Scatterv_c != null && MPI_Alltoallv_c != null;

    /// <summary>No large-count functions: every over-sized call takes the point-to-point fallback.</summary>
    public static LargeCount None { get; } = new();

    public static LargeCount From(nint library) => new()
    {
        MPI_Gatherv_c = (delegate* unmanaged<void*, long, nint, void*, long*, long*, nint, int, nint, int>)Export(library, "MPI_Gatherv_c"),
        MPI_Scatterv_c = (delegate* unmanaged<void*, long*, long*, nint, void*, long, nint, int, nint, int>)Export(library, "MPI_Scatterv_c"),
        MPI_Alltoallv_c = (delegate* unmanaged<void*, long*, long*, nint, void*, long*, long*, nint, nint, int>)Export(library, "MPI_Alltoallv_c"),
    };

    private static nint Export(nint library, string name) => NativeLibrary.TryGetExport(library, name, out nint p) ? p : 0;
}
