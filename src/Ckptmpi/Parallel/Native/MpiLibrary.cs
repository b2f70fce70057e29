using System.Runtime.InteropServices;
using System.Text;
using Serilog;

namespace Ckptmpi.Parallel.Native;

/// <summary>
/// Finds, loads and identifies the system libmpi (docs/mpi.md): the native environment first
/// (UCX_ERROR_SIGNALS, MPICH_GPU_SUPPORT_ENABLED, set with libc setenv before dlopen), then libc
/// dlopen(RTLD_NOW|RTLD_GLOBAL) of the sonames the launcher implies (or exactly CKPTMPI_MPI_LIB), then the ABI
/// table and the optional large-count exports. Loaded at most once per process; <see cref="LibMpi"/> calls go to it.
/// </summary>
internal sealed unsafe class MpiLibrary
{
    private static readonly object s_gate = new();
    private static MpiLibrary? s_loaded;

    private MpiLibrary(nint handle, string name, string path, MpiAbi abi, LargeCount largeCount, string version)
    {
        Handle = handle;
        Name = name;
        Path = path;
        Abi = abi;
        LargeCount = largeCount;
        Version = version;
    }

    public nint Handle { get; }

    /// <summary>What was dlopen'ed (a soname or the CKPTMPI_MPI_LIB value).</summary>
    public string Name { get; }

    /// <summary>The file that is mapped, from /proc/self/maps (or <see cref="Name"/> when not found there).</summary>
    public string Path { get; }

    public MpiAbi Abi { get; }

    public LargeCount LargeCount { get; }

    /// <summary>MPI_Get_library_version, whole text (may be several lines).</summary>
    public string Version { get; }

    /// <summary>The sonames to try, in order, for a launcher that implies <paramref name="family"/> (unversioned last: update-alternatives picks it).</summary>
    public static IReadOnlyList<string> Candidates(MpiAbiFamily? family, bool launched) => family switch
    {
        MpiAbiFamily.OpenMpi => ["libmpi.so.40", "libmpi.so"],
        MpiAbiFamily.Mpich => ["libmpi.so.12", "libmpich.so.12", "libmpi.so"],
        // Ambiguous launcher (PMIx, Slurm, Flux): Open MPI first, the size check catches a wrong guess. Forced on with no launcher: MPICH
        // first, because an Open MPI singleton forks orted.
        _ when launched => ["libmpi.so.40", "libmpi.so.12", "libmpich.so.12", "libmpi.so"],
        _ => ["libmpi.so.12", "libmpich.so.12", "libmpi.so.40", "libmpi.so"],
    };

    /// <summary>Loads libmpi once; later calls return the same library.</summary>
    /// <exception cref="MpiEnvironmentException">No candidate could be loaded.</exception>
    public static MpiLibrary Load(LauncherEnvironment launcher, string? explicitLibrary, bool useLargeCount, ILogger log)
    {
        lock (s_gate)
        {
            if (s_loaded is not null) return s_loaded;

            // Native setenv before dlopen; managed SetEnvironmentVariable and setenv after dlopen both come too late for UCX.
            Libc.setenv("UCX_ERROR_SIGNALS", "", overwrite: 0);
            Libc.setenv("MPICH_GPU_SUPPORT_ENABLED", "0", overwrite: 0);

            IReadOnlyList<string> candidates = explicitLibrary is { Length: > 0 } ? [explicitLibrary] : Candidates(launcher.Family, launcher.Launched);
            var failures = new StringBuilder();
            foreach (string name in candidates)
            {
                nint handle = Libc.dlopen(name, Libc.RtldNow | Libc.RtldGlobal);
                if (handle == 0)
                {
                    string why = Libc.LastDlError();
                    if (why.Length == 0) why = LoadError(name); // the runtime may clear dlerror between the two calls
                    log.Debug("libmpi candidate {Library}: not loaded ({Reason})", name, why);
                    failures.Append($"\n  {name}: {why}");
                    continue;
                }
                log.Debug("libmpi candidate {Library}: loaded", name);
                NativeLibrary.SetDllImportResolver(typeof(LibMpi).Assembly, (lib, _, _) => lib == LibMpi.Name ? handle : 0);
                MpiAbi abi = MpiAbi.Detect(handle);
                LargeCount large = useLargeCount ? LargeCount.From(handle) : LargeCount.None;
                s_loaded = new MpiLibrary(handle, name, MappedPath(name), abi, large, ReadVersion(abi));
                return s_loaded;
            }

            string hint = explicitLibrary is { Length: > 0 }
                ? "check the CKPTMPI_MPI_LIB path"
                : "load your MPI module (so that libmpi is on LD_LIBRARY_PATH) or set CKPTMPI_MPI_LIB to the full path of libmpi";
            throw new MpiEnvironmentException($"could not load libmpi ({launcher}); tried:{failures}\n{hint}", libraryNotFound: true);
        }
    }

    /// <summary>The first line of the version text with runs of white space collapsed, for one-line logs.</summary>
    public string VersionLine => string.Join(' ', (Version.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).FirstOrDefault() ?? "")
        .Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries));

    private static string LoadError(string name)
    {
        try
        {
            NativeLibrary.Free(NativeLibrary.Load(name));
            return "loadable by the runtime but not with RTLD_GLOBAL";
        }
        catch (DllNotFoundException e)
        {
            return e.Message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? e.Message;
        }
    }

    // MPI_Get_library_version may be called before MPI_Init; the buffer is MPICH's 8192 in every ABI.
    private static string ReadVersion(MpiAbi abi)
    {
        byte[] buffer = new byte[Math.Max(abi.MaxLibraryVersionString, 8192)];
        int length = 0;
        fixed (byte* p = buffer)
        {
            if (LibMpi.MPI_Get_library_version(p, &length) != 0) return "(unknown version)";
        }
        return Encoding.UTF8.GetString(buffer, 0, Math.Clamp(length, 0, buffer.Length)).TrimEnd('\0', ' ', '\n');
    }

    private static string MappedPath(string name)
    {
        string stem = System.IO.Path.GetFileName(name);
        int so = stem.IndexOf(".so", StringComparison.Ordinal);
        if (so > 0) stem = stem[..(so + 3)];
        try
        {
            foreach (string line in File.ReadLines("/proc/self/maps"))
            {
                int slash = line.IndexOf('/');
                if (slash >= 0 && System.IO.Path.GetFileName(line[slash..]).StartsWith(stem, StringComparison.Ordinal)) return line[slash..];
            }
        }
        catch (IOException)
        {
        }
        return name;
    }
}
