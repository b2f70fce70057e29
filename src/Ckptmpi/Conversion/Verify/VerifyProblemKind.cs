namespace Ckptmpi.Conversion.Verify;

/// <summary>What <c>ckptmpi verify</c> can find wrong.</summary>
public enum VerifyProblemKind
{
    /// <summary>A file the manifest lists is not there.</summary>
    Missing,

    /// <summary>A file has another size than the manifest says (truncated, extended).</summary>
    Size,

    /// <summary>A file's CRC-32 differs from the manifest's.</summary>
    Checksum,

    /// <summary>A file in the output directory that the manifest does not list.</summary>
    Extra,

    /// <summary>A file could not be read, or a manifest path points outside the directory.</summary>
    Unreadable,

    /// <summary>A source tensor that the output does not hold.</summary>
    TensorMissing,

    /// <summary>An output tensor that the source does not hold.</summary>
    TensorExtra,

    /// <summary>The same tensor with different shapes.</summary>
    Shape,

    /// <summary>A tensor whose values differ (the first differing element is reported).</summary>
    Value,
}
