using System.Globalization;
using System.Text.RegularExpressions;

namespace Ckptmpi.Formats.Meta;

/// <summary>File names of a Meta checkpoint folder.</summary>
public static partial class MetaPaths
{
    public const string Tokenizer = "tokenizer.model";

    /// <summary>Shard <paramref name="rank"/>'s file: <c>consolidated.00.pth</c> (at least two digits, as Meta names them).</summary>
    public static string Shard(int rank) => $"consolidated.{rank.ToString("00", CultureInfo.InvariantCulture)}.pth";

    /// <summary>The shard files of <paramref name="dir"/> by their rank number (parsed, so 100 shards sort too).</summary>
    public static SortedDictionary<int, string> Shards(string dir)
    {
        var result = new SortedDictionary<int, string>();
        foreach (string f in Directory.EnumerateFiles(dir, "consolidated.*.pth"))
        {
            Match m = ShardName().Match(Path.GetFileName(f));
            if (m.Success && int.TryParse(m.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out int rank)) result[rank] = Path.GetFileName(f);
        }
        return result;
    }

    [GeneratedRegex(@"^consolidated\.([0-9]{1,6})\.pth$")]
    private static partial Regex ShardName();
}
