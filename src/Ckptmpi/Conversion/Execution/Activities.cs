namespace Ckptmpi.Conversion.Execution;

/// <summary>The timeline kinds the executor records for each piece of output (see <c>Parallel.Timeline.RankTimeline</c>).</summary>
public static class Activities
{
    /// <summary>Source bytes read from the filesystem.</summary>
    public const string Read = "read";

    /// <summary>Assembling a piece in the buffer: gathers, casts, literals, checksums.</summary>
    public const string Transform = "transform";

    /// <summary>A piece written at its offset in the output file.</summary>
    public const string Write = "write";

    /// <summary>fsync of this rank's output files before the commit.</summary>
    public const string Sync = "sync";

    /// <summary>Source bytes moved between ranks (<c>--io aggregate</c>).</summary>
    public const string Exchange = "exchange";

    public static readonly IReadOnlyList<string> All = [Read, Transform, Write, Sync, Exchange];
}
