using System.Globalization;
using System.Text.RegularExpressions;

namespace Ckptmpi.Tensors;

/// <summary>Sizes as users write them: <c>64MiB</c>, <c>1GiB</c>, <c>5GB</c>, <c>512k</c>, <c>1048576</c>; and back to text.</summary>
public static partial class ByteSize
{
    /// <exception cref="FormatException">not a size.</exception>
    public static long Parse(string text)
    {
        Match m = SizePattern().Match(text.Trim());
        if (!m.Success) throw new FormatException($"'{text}' is not a size; write e.g. 64MiB, 1GiB, 5GB or a number of bytes");
        double value = double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
        string unit = m.Groups[2].Value.ToLowerInvariant();
        double scale = unit switch
        {
            "" or "b" => 1,
            "k" or "kib" => 1L << 10, "kb" => 1e3,
            "m" or "mib" => 1L << 20, "mb" => 1e6,
            "g" or "gib" => 1L << 30, "gb" => 1e9,
            "t" or "tib" => 1L << 40, "tb" => 1e12,
            _ => throw new FormatException($"'{text}': unknown unit '{m.Groups[2].Value}'"),
        };
        double bytes = Math.Round(value * scale);
        // Checked here, not by a cast: an overflowing size is the user's typo, not a crash.
        if (!(bytes < 9.2e18)) throw new FormatException($"'{text}' is too large a size (the most is 8 EiB)");
        return (long)bytes;
    }

    public static string Format(long bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB"];
        double v = bytes;
        int u = 0;
        while (Math.Abs(v) >= 1024 && u < units.Length - 1) { v /= 1024; u++; }
        return u == 0 ? $"{bytes} B" : string.Create(CultureInfo.InvariantCulture, $"{v:0.##} {units[u]}");
    }

    [GeneratedRegex(@"^([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)$")]
    private static partial Regex SizePattern();
}
