using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Serilog;

namespace Ckptmpi.Conversion.Execution;

/// <summary>
/// The Lustre stripe layout of the output directory. Lustre puts a new file on one OST (object storage target) by
/// default, so a 5 GB shard written by many ranks at once is served by a single server; striping the directory
/// over many OSTs lets every rank's writes land on different servers. On Lustre (recognised by the filesystem's
/// magic number) rank 0 runs <c>lfs setstripe</c> on the output directory before the first file is created; files
/// created there inherit the layout. Elsewhere, or with <c>--stripe-count keep</c>, nothing is changed.
/// </summary>
public sealed record Striping(string Count, string Size)
{
    /// <summary>
    /// Defaults: every OST (<c>-1</c>) in 16 MiB stripes. Checkpoint shards are gigabytes, so each file spans all
    /// servers with pieces large enough for the writes of one rank (a chunk of <c>--max-buffer</c>) to stay on few.
    /// </summary>
    public static readonly Striping Default = new("-1", "16M");

    /// <summary>Lustre's <c>f_type</c> in statfs (LL_SUPER_MAGIC).</summary>
    public const long LustreMagic = 0x0BD00BD0;

    public bool Keep => Count == "keep";

    /// <summary>Parses <c>--stripe-count</c> (a number, -1 for all OSTs, or "keep") and <c>--stripe-size</c> (e.g. 16M, 4MiB, 1G).</summary>
    /// <exception cref="FormatException">a value lfs would refuse.</exception>
    public static Striping Parse(string? count, string? size)
    {
        count ??= Default.Count;
        if (count != "keep" && !(int.TryParse(count, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int c) && c >= -1 && c != 0 && c <= 65535))
            throw new FormatException($"--stripe-count '{count}': give a number of OSTs (1 to 65535), -1 for all of them, or 'keep'");
        if (size is null) return Default with { Count = count };
        long bytes = Tensors.ByteSize.Parse(size);
        if (bytes < 64 << 10 || bytes % (64 << 10) != 0 || bytes > (4L << 30))
            throw new FormatException($"--stripe-size '{size}': Lustre stripes are a multiple of 64 KiB, at most 4 GiB");
        return new Striping(count, (bytes >> 10).ToString(CultureInfo.InvariantCulture) + "K");
    }

    /// <summary>What the report shows.</summary>
    public override string ToString() => Keep ? "kept the directory's own layout" : $"stripe count {Count}, stripe size {Size}";

    /// <summary>
    /// Rank 0, before any output file exists: stripes <paramref name="dir"/> when it is on Lustre. Returns what was
    /// done (for the report), or null when the filesystem is not Lustre or the layout was kept.
    /// </summary>
    /// <param name="filesystemType">the directory's statfs <c>f_type</c>; null: ask the system.</param>
    /// <param name="lfs">the lfs program; null: <c>lfs</c> on PATH.</param>
    public string? Apply(string dir, long? filesystemType = null, string? lfs = null)
    {
        if (Keep) return null;
        long type = filesystemType ?? FilesystemType(dir);
        if (type != LustreMagic) return null;
        string program = lfs ?? "lfs";
        var psi = new ProcessStartInfo(program) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (string a in new[] { "setstripe", "-c", Count, "-S", Size, dir }) psi.ArgumentList.Add(a);
        try
        {
            using Process p = Process.Start(psi)!;
            string err = p.StandardError.ReadToEnd();
            p.WaitForExit();
            if (p.ExitCode != 0)
            {
                Log.Warning("lfs setstripe on {Dir} failed ({Code}): {Error}; the output keeps the directory's own layout", dir, p.ExitCode, err.Trim());
                return $"lfs setstripe failed ({err.Trim()}); the directory's own layout was kept";
            }
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            Log.Warning("{Dir} is on Lustre but '{Lfs}' could not be run ({Message}); the output keeps the directory's own layout", dir, program, e.Message);
            return "lfs not found; the directory's own layout was kept";
        }
        Log.Information("{Dir}: Lustre, striped with lfs setstripe -c {Count} -S {Size}", dir, Count, Size);
        return ToString();
    }

    /// <summary>statfs f_type of the directory (0 where it cannot be read).</summary>
    public static long FilesystemType(string dir)
    {
        if (!OperatingSystem.IsLinux()) return 0;
        var buffer = new byte[120]; // struct statfs on 64-bit Linux; f_type is its first field (a long)
        return statfs(dir, buffer) == 0 ? BitConverter.ToInt64(buffer, 0) : 0;
    }

    [DllImport("libc.so.6", SetLastError = true)]
    private static extern int statfs([MarshalAs(UnmanagedType.LPUTF8Str)] string path, byte[] buffer);
}
