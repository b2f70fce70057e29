namespace Ckptmpi.Conversion.Execution;

/// <summary>How ranks get source bytes.</summary>
public enum IoMode
{
    /// <summary>Each writing rank reads the byte ranges it needs straight from the source files.</summary>
    Direct,

    /// <summary>Each source file is read by one owner rank; pieces travel to the writers by Alltoallv in buffer-bounded rounds.</summary>
    Aggregate,
}
