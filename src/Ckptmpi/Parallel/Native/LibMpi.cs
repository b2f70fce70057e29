using System.Runtime.InteropServices;

namespace Ckptmpi.Parallel.Native;

/// <summary>
/// The MPI entry points ckptmpi calls, declared exactly as in the MPI standard. Only
/// declarations live here: handles are <c>nint</c> (MPICH ABI ints and Open MPI pointers both fit),
/// counts are C <c>int</c>. The logical library name is mapped to the dlopen'ed libmpi by <see cref="MpiLibrary"/>;
/// nothing here may be called before <see cref="MpiLibrary.Load"/>. Large-count (<c>_c</c>) variants are optional
/// exports and live in <see cref="LargeCount"/> as function pointers.
/// </summary>
internal static unsafe partial class LibMpi
{
    /// <summary>Logical name; never a file name (the resolver in <see cref="MpiLibrary"/> supplies the handle).</summary>
    public const string Name = "ckptmpi-libmpi";

    [LibraryImport(Name)] public static partial int MPI_Get_library_version(byte* version, int* resultlen);
    [LibraryImport(Name)] public static partial int MPI_Get_version(int* version, int* subversion);
    [LibraryImport(Name)] public static partial int MPI_Init_thread(int* argc, byte*** argv, int required, int* provided);
    [LibraryImport(Name)] public static partial int MPI_Initialized(int* flag);
    [LibraryImport(Name)] public static partial int MPI_Finalized(int* flag);
    [LibraryImport(Name)] public static partial int MPI_Finalize();
    [LibraryImport(Name)] public static partial int MPI_Abort(nint comm, int errorcode);
    [LibraryImport(Name)] public static partial int MPI_Comm_rank(nint comm, int* rank);
    [LibraryImport(Name)] public static partial int MPI_Comm_size(nint comm, int* size);
    [LibraryImport(Name)] public static partial int MPI_Comm_set_errhandler(nint comm, nint errhandler);
    [LibraryImport(Name)] public static partial int MPI_Error_string(int errorcode, byte* str, int* resultlen);
    [LibraryImport(Name)] public static partial int MPI_Error_class(int errorcode, int* errorclass);
    [LibraryImport(Name)] public static partial int MPI_Get_processor_name(byte* name, int* resultlen);
    [LibraryImport(Name)] public static partial int MPI_Comm_dup(nint comm, nint* newcomm);
    [LibraryImport(Name)] public static partial int MPI_Comm_free(nint* comm);
    [LibraryImport(Name)] public static partial int MPI_Test(nint* request, int* flag, void* status);
    [LibraryImport(Name)] public static partial int MPI_Wait(nint* request, void* status);
    [LibraryImport(Name)] public static partial int MPI_Barrier(nint comm);
    [LibraryImport(Name)] public static partial int MPI_Bcast(void* buffer, int count, nint datatype, int root, nint comm);

    [LibraryImport(Name)]
    public static partial int MPI_Allreduce(void* sendbuf, void* recvbuf, int count, nint datatype, nint op, nint comm);

    [LibraryImport(Name)]
    public static partial int MPI_Iallreduce(void* sendbuf, void* recvbuf, int count, nint datatype, nint op, nint comm, nint* request);

    [LibraryImport(Name)]
    public static partial int MPI_Allgather(void* sendbuf, int sendcount, nint sendtype, void* recvbuf, int recvcount, nint recvtype, nint comm);

    [LibraryImport(Name)]
    public static partial int MPI_Gatherv(void* sendbuf, int sendcount, nint sendtype, void* recvbuf, int* recvcounts, int* displs,
                                          nint recvtype, int root, nint comm);

    [LibraryImport(Name)]
    public static partial int MPI_Scatterv(void* sendbuf, int* sendcounts, int* displs, nint sendtype, void* recvbuf, int recvcount,
                                           nint recvtype, int root, nint comm);

    [LibraryImport(Name)]
    public static partial int MPI_Alltoallv(void* sendbuf, int* sendcounts, int* sdispls, nint sendtype, void* recvbuf, int* recvcounts,
                                            int* rdispls, nint recvtype, nint comm);

    [LibraryImport(Name)]
    public static partial int MPI_Send(void* buf, int count, nint datatype, int dest, int tag, nint comm);

    [LibraryImport(Name)]
    public static partial int MPI_Recv(void* buf, int count, nint datatype, int source, int tag, nint comm, void* status);

    [LibraryImport(Name)]
    public static partial int MPI_Sendrecv(void* sendbuf, int sendcount, nint sendtype, int dest, int sendtag, void* recvbuf, int recvcount,
                                           nint recvtype, int source, int recvtag, nint comm, void* status);
}
