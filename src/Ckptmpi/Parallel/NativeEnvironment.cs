using Ckptmpi.Parallel.Native;

namespace Ckptmpi.Parallel;

/// <summary>
/// The process environment as native code (libmpi, UCX) sees it: <see cref="Environment.GetEnvironmentVariable(string)"/>
/// shows .NET's copy, which libc setenv does not update.
/// </summary>
public static class NativeEnvironment
{
    /// <summary>libc getenv; null when unset.</summary>
    public static string? Get(string name) => OperatingSystem.IsWindows() ? Environment.GetEnvironmentVariable(name) : Libc.GetEnv(name);
}
