namespace Ckptmpi.Conversion.Journal;

/// <summary>The in-process stand-in for SIGKILL (<see cref="JournalFaults.InProcess"/>).</summary>
public sealed class InjectedCrashException(string message) : Exception(message);
