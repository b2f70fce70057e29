namespace Ckptmpi.Formats;

/// <summary>The format-neutral part of a read: the <c>--input</c> path, and whether this is a dry run (which may plan from a config alone).</summary>
public sealed record ReadSettings(string Input, bool DryRun = false);
