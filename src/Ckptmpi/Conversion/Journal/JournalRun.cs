namespace Ckptmpi.Conversion.Journal;

/// <summary>The CRC-32 (hex) of output bytes <c>[Offset, Offset + Length)</c>; <see cref="Field"/> as in the plan's CRC runs.</summary>
public sealed record JournalRun(long Offset, int Length, int Field, string Crc);
