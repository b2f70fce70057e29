using Ckptmpi.Conversion.Estimate;

namespace Ckptmpi.Tests.Conversion.Estimate;

public sealed class PythonFloatTests
{
    [Test]
    public void Fixed_point_formatting_matches_python_including_exact_ties_and_padding()
    {
        double[] values = [0.125, 0.375, 2.675, 1e-7, 0, 436.9296875, 4660.5390625, 1.005, 123456789.125, 5e-324, 1e22, 0.5, 1.5, 2.5];
        string python = TestPaths.RunPython("""
            import sys
            for v in sys.argv[1:]:
                x = float.fromhex(v)
                print(f"{x:7.2f}|{x:.0f}|{x:.3f}")
            """, values.Select(v => HexFloat(v)).ToArray());
        string[] expected = python.TrimEnd('\n').Split('\n');
        for (int i = 0; i < values.Length; i++)
        {
            double v = values[i];
            Assert.That($"{PythonFloat.Fixed(v, 2, 7)}|{PythonFloat.Fixed(v, 0)}|{PythonFloat.Fixed(v, 3)}", Is.EqualTo(expected[i]), $"value {v:R}");
        }
    }

    [Test]
    public void Exact_ties_round_to_even_as_python_does()
    {
        Assert.That(PythonFloat.Fixed(0.125, 2), Is.EqualTo("0.12"));
        Assert.That(PythonFloat.Fixed(0.375, 2), Is.EqualTo("0.38"));
        Assert.That(PythonFloat.Fixed(-0.0, 2), Is.EqualTo("-0.00"));
    }

    // Python's float.hex form: exact, so both sides format the very same double.
    private static string HexFloat(double v)
    {
        if (v == 0) return "0x0p+0";
        long bits = BitConverter.DoubleToInt64Bits(v);
        int biased = (int)((bits >> 52) & 0x7FF);
        long fraction = bits & ((1L << 52) - 1);
        return biased == 0 ? $"0x0.{fraction:x13}p-1022" : $"0x1.{fraction:x13}p{biased - 1023}";
    }
}
