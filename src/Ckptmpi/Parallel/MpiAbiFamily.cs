namespace Ckptmpi.Parallel;

/// <summary>The two MPI ABI families ckptmpi can load (docs/mpi.md).</summary>
public enum MpiAbiFamily
{
    /// <summary>MPICH, Intel MPI, Cray MPICH, MVAPICH: libmpi.so.12 or libmpich.so.12, int handles.</summary>
    Mpich,

    /// <summary>Open MPI: libmpi.so.40, handles are addresses of exported globals.</summary>
    OpenMpi,
}
