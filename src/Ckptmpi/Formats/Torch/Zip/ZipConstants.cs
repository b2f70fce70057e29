namespace Ckptmpi.Formats.Torch.Zip;

// The zip framing PyTorch's miniz writer produces, and the limits the reader enforces.

/// <summary>Signatures, flags and sentinel values of the zip format as torch uses it.</summary>
internal static class ZipConstants
{
    public const uint LocalHeaderSignature = 0x04034B50;
    public const uint DataDescriptorSignature = 0x08074B50;
    public const uint CentralHeaderSignature = 0x02014B50;
    public const uint Zip64EndSignature = 0x06064B50;
    public const uint Zip64LocatorSignature = 0x07064B50;
    public const uint EndSignature = 0x06054B50;

    /// <summary>Method 0: the data is stored, byte for byte. The only method torch writes and we read.</summary>
    public const ushort MethodStored = 0;

    /// <summary>Flag bit 0: the entry is encrypted.</summary>
    public const ushort FlagEncrypted = 0x0001;

    /// <summary>Flag bit 3: CRC and sizes follow the data in a data descriptor (local header holds zeros).</summary>
    public const ushort FlagDataDescriptor = 0x0008;

    /// <summary>Flag bit 11: the name is UTF-8.</summary>
    public const ushort FlagUtf8 = 0x0800;

    /// <summary>A 32-bit size or offset field holding this value is in the zip64 extra field instead.</summary>
    public const uint Zip64Marker32 = 0xFFFFFFFF;

    /// <summary>A 16-bit entry-count field holding this value is in the zip64 end record instead.</summary>
    public const ushort Zip64Marker16 = 0xFFFF;

    /// <summary>Extra-field tag of the zip64 extended information field.</summary>
    public const ushort Zip64ExtraTag = 0x0001;

    /// <summary>Extra-field tag torch uses to pad each record's data to <see cref="TorchAlignment"/> ('F','B').</summary>
    public const ushort TorchPaddingExtraTag = 0x4246;

    /// <summary>Byte torch fills its padding field with ('Z').</summary>
    public const byte TorchPaddingByte = 0x5A;

    /// <summary>torch aligns every record's data to 64 bytes (kFieldAlignment).</summary>
    public const int TorchAlignment = 64;

    /// <summary>Size of an extra-field header (u16 tag, u16 length).</summary>
    public const int ExtraFieldHeaderSize = 4;

    /// <summary>Zip64 end record: "version made by" torch writes (0x031E: Unix, 3.0).</summary>
    public const ushort Zip64VersionMadeBy = 0x031E;

    /// <summary>Zip64 end record: "version needed" torch writes (4.5, zip64).</summary>
    public const ushort Zip64VersionNeeded = 0x002D;

    /// <summary>The end record may be followed by a comment of at most this many bytes, so we scan this far back.</summary>
    public const int MaxCommentLength = ushort.MaxValue;

    /// <summary>Cap on the central directory we read into memory (about 2 million entries): a lying size is rejected, not allocated.</summary>
    public const long MaxCentralDirectorySize = 256L << 20;
}
