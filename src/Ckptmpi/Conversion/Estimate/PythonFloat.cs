using System.Globalization;
using System.Numerics;

namespace Ckptmpi.Conversion.Estimate;

/// <summary>
/// The few pieces of Python float semantics DeepSpeed's estimators rely on, reproduced bit for bit so our
/// tables match theirs digit for digit: fixed-point formatting (<c>f"{x:7.2f}"</c>), true division of two ints,
/// and <c>int(x)</c> truncation.
/// </summary>
internal static class PythonFloat
{
    /// <summary>2^53: below it every integer is exactly a double, so int arithmetic and float arithmetic agree.</summary>
    internal const long ExactIntegerLimit = 1L << 53;

    /// <summary>
    /// <c>format(value, f"{width}.{decimals}f")</c>: the exact binary value rounded half-to-even at
    /// <paramref name="decimals"/> places (Python formats the exact value, so 0.125 gives "0.12"), right-aligned with
    /// spaces to <paramref name="width"/>. Done with integers rather than the runtime's "F2" so the digits do not
    /// depend on .NET's formatting rules, which have changed between versions.
    /// </summary>
    internal static string Fixed(double value, int decimals, int width = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(decimals);
        string text;
        if (double.IsNaN(value)) text = "nan";
        else if (double.IsInfinity(value)) text = value > 0 ? "inf" : "-inf";
        else text = (double.IsNegative(value) ? "-" : "") + FixedMagnitude(Math.Abs(value), decimals);
        return text.PadLeft(width);
    }

    private static string FixedMagnitude(double value, int decimals)
    {
        // value = mantissa * 2^exponent exactly (IEEE 754 binary64 fields).
        long bits = BitConverter.DoubleToInt64Bits(value);
        int biased = (int)((bits >> 52) & 0x7FF);
        long fraction = bits & ((1L << 52) - 1);
        BigInteger mantissa = biased == 0 ? fraction : fraction | (1L << 52);
        int exponent = biased == 0 ? -1074 : biased - 1075;

        BigInteger scaled = mantissa * BigInteger.Pow(10, decimals);
        BigInteger digits;
        if (exponent >= 0)
        {
            digits = scaled << exponent;
        }
        else
        {
            BigInteger denominator = BigInteger.One << -exponent;
            digits = BigInteger.DivRem(scaled, denominator, out BigInteger remainder);
            int half = (remainder * 2).CompareTo(denominator);
            if (half > 0 || (half == 0 && !digits.IsEven)) digits += 1;
        }

        string s = digits.ToString(CultureInfo.InvariantCulture);
        if (decimals == 0) return s;
        s = s.PadLeft(decimals + 1, '0');
        return s[..^decimals] + "." + s[^decimals..];
    }

    /// <summary>Python's <c>a / b</c> for two ints: the correctly rounded quotient. Exact here because both operands
    /// are below 2^53, so converting them to double loses nothing and IEEE division rounds once.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An operand is 2^53 or more, where this shortcut would round twice.</exception>
    internal static double TrueDivide(long a, long b)
    {
        if (Math.Abs(a) >= ExactIntegerLimit) throw new ArgumentOutOfRangeException(nameof(a), a, "numerator beyond 2^53: not exactly reproducible");
        if (Math.Abs(b) >= ExactIntegerLimit) throw new ArgumentOutOfRangeException(nameof(b), b, "denominator beyond 2^53: not exactly reproducible");
        return (double)a / b;
    }

    /// <summary>Python's <c>int(x)</c> for a float: truncation toward zero.</summary>
    /// <exception cref="OverflowException">The value does not fit a 64-bit integer.</exception>
    internal static long Int(double x) => checked((long)x);
}
