namespace Ckptmpi.Formats.Safetensors;

/// <summary>
/// The byte layout and naming rules of safetensors files and HF checkpoints (docs/formats/safetensors.md):
/// an 8-byte little-endian header length, a JSON header padded with spaces to a multiple of 8, then the data.
/// </summary>
internal static class SafetensorsFormat
{
    /// <summary>Bytes of the little-endian u64 that gives the header length.</summary>
    public const int LengthPrefixSize = sizeof(ulong);

    /// <summary>The reference reader's cap on the JSON header (<c>MAX_HEADER_SIZE</c>); also caps our allocation.</summary>
    public const long MaxHeaderBytes = 100_000_000;

    /// <summary>The reference writer pads the header so that the data section starts 8-byte aligned.</summary>
    public const int HeaderAlignment = 8;

    public const byte HeaderPadding = (byte)' ';

    public const string MetadataKey = "__metadata__";
    public const string DTypeKey = "dtype";
    public const string ShapeKey = "shape";
    public const string DataOffsetsKey = "data_offsets";

    public const string SingleFileName = "model.safetensors";
    public const string IndexFileName = "model.safetensors.index.json";
    public const string FileExtension = ".safetensors";
    public const string ConfigFileName = "config.json";

    /// <summary>The shard name HF writers use: <c>model-00001-of-00004.safetensors</c> (5 digits, 1-based).</summary>
    public static string ShardFileName(int oneBasedIndex, int count) => $"model-{oneBasedIndex:D5}-of-{count:D5}{FileExtension}";

    /// <summary>safetensors dtype names that are valid but that ckptmpi does not convert (yet).</summary>
    public static readonly IReadOnlySet<string> KnownUnsupportedDTypes = new HashSet<string>(StringComparer.Ordinal)
    {
        "U16", "U32", "U64", "C64", "F8_E5M2", "F8_E4M3", "F8_E8M0", "F8_E4M3FNUZ", "F8_E5M2FNUZ", "F4", "F6_E2M3", "F6_E3M2",
    };
}
