namespace Ckptmpi.Parallel;

/// <summary>Whether to use MPI (CKPTMPI_MPI): decided before libmpi is ever loaded (docs/mpi.md).</summary>
public enum RunMode
{
    /// <summary>MPI when a launcher variable is present, else one plain process that never loads libmpi.</summary>
    Auto,

    /// <summary>Always load MPI (a singleton when not launched; Open MPI then forks orted).</summary>
    On,

    /// <summary>Never load MPI; one plain process even under a launcher.</summary>
    Off,
}
