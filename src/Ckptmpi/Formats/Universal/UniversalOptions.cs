namespace Ckptmpi.Formats.Universal;

/// <summary>The options of the universal format. Reading: <see cref="Tag"/>, <see cref="WithOptimizerStates"/> (the ZeRO format's options, which mean the same here).</summary>
public sealed record UniversalOptions : FormatOptions
{
    public override string Format => UniversalFormat.FormatName;

    /// <summary>Universal tag folder to read (default: the one named by 'latest_universal').</summary>
    public string? Tag { get; init; }

    /// <summary>Also expose the Adam moments (and the step) under the HF names, as the megads reader does.</summary>
    public bool WithOptimizerStates { get; init; }
}
