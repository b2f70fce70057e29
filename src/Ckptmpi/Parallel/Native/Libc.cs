using System.Runtime.InteropServices;

namespace Ckptmpi.Parallel.Native;

/// <summary>
/// The three libc calls the loader needs. <c>setenv</c> because <see cref="Environment.SetEnvironmentVariable"/>
/// does not reach native <c>getenv</c>, <c>dlopen</c> because
/// <see cref="NativeLibrary.Load(string)"/> cannot ask for RTLD_GLOBAL (Open MPI plugins may need it). "libc.so.6", not "libc": the
/// unversioned libc.so is a linker script on development machines and does not dlopen.
/// </summary>
internal static unsafe partial class Libc
{
    public const int RtldNow = 0x2;
    public const int RtldGlobal = 0x100;

    [LibraryImport("libc.so.6", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int setenv(string name, string value, int overwrite);

    [LibraryImport("libc.so.6", StringMarshalling = StringMarshalling.Utf8)]
    public static partial nint getenv(string name);

    [LibraryImport("libc.so.6", StringMarshalling = StringMarshalling.Utf8)]
    public static partial nint dlopen(string file, int mode);

    [LibraryImport("libc.so.6")]
    public static partial byte* dlerror();

    [LibraryImport("libc.so.6")]
    public static partial int getppid();

    /// <summary>The last dlopen error text, or an empty string.</summary>
    public static string LastDlError()
    {
        byte* e = dlerror();
        return e == null ? "" : Marshal.PtrToStringUTF8((nint)e) ?? "";
    }

    /// <summary>Native <c>getenv</c>, as libmpi will see it.</summary>
    public static string? GetEnv(string name)
    {
        nint p = getenv(name);
        return p == 0 ? null : Marshal.PtrToStringUTF8(p);
    }
}
