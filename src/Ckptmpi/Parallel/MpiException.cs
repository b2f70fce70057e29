namespace Ckptmpi.Parallel;

/// <summary>
/// An MPI call returned an error (the communicator uses MPI_ERRORS_RETURN, so errors come back as codes rather
/// than killing the job). Carries the raw code, its class (MPI_Error_class) and the library's own text
/// (MPI_Error_string). Error classes differ between ABIs: compare them only through the
/// ABI table. The state of MPI after an error is undefined, so the CLI aborts the job.
/// </summary>
public sealed class MpiException(string function, int errorCode, int errorClass, string errorString)
    : Exception($"{function} failed: {errorString} (MPI error code {errorCode}, class {errorClass})")
{
    public string Function { get; } = function;
    public int ErrorCode { get; } = errorCode;
    public int ErrorClass { get; } = errorClass;
    public string ErrorString { get; } = errorString;
}
