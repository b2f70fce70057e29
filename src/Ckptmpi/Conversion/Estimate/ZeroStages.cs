namespace Ckptmpi.Conversion.Estimate;

/// <summary>Which ZeRO tables an estimate shows.</summary>
[Flags]
public enum ZeroStages
{
    Zero2 = 1,
    Zero3 = 2,
    All = Zero2 | Zero3,
}
