using System.Runtime.InteropServices;
using System.Text;
using Ckptmpi.Errors;

namespace Ckptmpi.Tensors;

/// <summary>
/// The one gate every input file passes before it is opened. Opening a FIFO for reading blocks until a writer
/// appears, so a FIFO planted where a shard or a <c>config.json</c> is expected would hang every rank forever; a
/// character device (<c>/dev/zero</c>, <c>/dev/urandom</c>) never ends. Both are refused here, before <c>open</c>,
/// with the path and what it is. Small text files (configs, <c>latest</c>, indexes) are read with a size cap so a
/// huge or endless file is an error, not a memory blow-up, and never echoed back whole.
/// </summary>
public static partial class InputFiles
{
    /// <summary>The most a text side file (config.json, an index, ds_config.json) may hold.</summary>
    public const int MaxTextBytes = 64 << 20;

    /// <summary>Refuses anything but a regular file (symlinks are followed: a link to a regular file is fine).</summary>
    /// <exception cref="FileNotFoundException">nothing is there.</exception>
    /// <exception cref="CheckpointFormatException">a directory, FIFO, socket or device.</exception>
    public static void RequireRegular(string path)
    {
        string? kind = KindOf(path);
        if (kind is null) return;
        throw new CheckpointFormatException(path, null, $"is a {kind}, not a regular file; refusing to read it");
    }

    /// <summary>Reads a small UTF-8 text file after <see cref="RequireRegular"/>, refusing one over <paramref name="maxBytes"/>.</summary>
    public static string ReadText(string path, int maxBytes = MaxTextBytes)
    {
        RequireRegular(path);
        using FileStream s = new(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        if (s.Length > maxBytes)
            throw new CheckpointFormatException(path, null, $"is {s.Length} bytes; a file of this kind is at most {maxBytes} bytes, so this is not one");
        var bytes = new byte[s.Length];
        s.ReadExactly(bytes);
        return Encoding.UTF8.GetString(bytes);
    }

    /// <summary>Null for a regular file; else what it is ("directory", "FIFO (named pipe)", ...).</summary>
    /// <exception cref="FileNotFoundException">nothing is there (or a dangling link).</exception>
    public static string? KindOf(string path)
    {
        if (Directory.Exists(path)) return "directory";
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no such file", path);
        if (!OperatingSystem.IsLinux()) return null;
        Statx buffer = default;
        // AT_FDCWD, follow symlinks, only the type bits are needed.
        if (statx(AtFdCwd, path, 0, StatxType, ref buffer) != 0) return null; // cannot tell: open() will report any real problem
        return (buffer.Mode & TypeMask) switch
        {
            TypeRegular => null,
            TypeFifo => "FIFO (named pipe)",
            TypeCharDevice => "character device",
            TypeBlockDevice => "block device",
            TypeSocket => "socket",
            TypeDirectory => "directory",
            _ => "special file",
        };
    }

    private const int AtFdCwd = -100;
    private const uint StatxType = 0x0001;
    private const int TypeMask = 0xF000, TypeFifo = 0x1000, TypeCharDevice = 0x2000, TypeDirectory = 0x4000,
        TypeBlockDevice = 0x6000, TypeRegular = 0x8000, TypeSocket = 0xC000;

    /// <summary>
    /// The head of Linux's <c>struct statx</c>, whose layout (unlike <c>struct stat</c>) is the same on every
    /// architecture; the kernel writes the whole 256-byte struct, hence the padding.
    /// </summary>
    [StructLayout(LayoutKind.Explicit, Size = 256)]
    private struct Statx
    {
        [FieldOffset(28)] public ushort Mode;
    }

    [LibraryImport("libc.so.6", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int statx(int dirfd, string path, int flags, uint mask, ref Statx buffer);
}
