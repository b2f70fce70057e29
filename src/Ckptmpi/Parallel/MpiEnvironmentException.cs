namespace Ckptmpi.Parallel;

/// <summary>
/// The MPI environment is unusable: libmpi not found, the wrong MPI family for the launcher (MPI's world size
/// differs from the launcher's), or a thread level too low. Ends the job with exit code 4 on every rank.
/// </summary>
public sealed class MpiEnvironmentException(string message, bool libraryNotFound = false) : Exception(message)
{
    /// <summary>No libmpi candidate could be loaded at all (as opposed to a loaded one that does not fit).</summary>
    public bool LibraryNotFound { get; } = libraryNotFound;
}
