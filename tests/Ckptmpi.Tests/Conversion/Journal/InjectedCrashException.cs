namespace Ckptmpi.Tests.Conversion.Journal;

/// <summary>The in-process stand-in for SIGKILL thrown by <see cref="FaultInjectingHooks"/>.</summary>
internal sealed class InjectedCrashException(string message) : Exception(message);
