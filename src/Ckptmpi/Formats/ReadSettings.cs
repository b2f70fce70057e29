namespace Ckptmpi.Formats;

/// <summary>
/// The format-neutral part of a read: the <c>--input</c> path, whether this is a dry run (which may plan from a config
/// alone), and whether the writer carries training state (<see cref="IFormatWriter.CarriesTrainingState"/>), so a
/// reader exposes the optimizer state it holds without the user asking.
/// </summary>
public sealed record ReadSettings(string Input, bool DryRun = false, bool WithTrainingState = false);
