using System.Globalization;
using System.Text.RegularExpressions;

namespace Ckptmpi.Formats.MegaDs;

/// <summary>File names of a Megatron-DeepSpeed pipeline tag folder (beside DeepSpeed's model and optimizer states).</summary>
public static partial class MegaDsPaths
{
    /// <summary>Megatron's own marker beside DeepSpeed's 'latest': the iteration number, no newline.</summary>
    public const string LatestIteration = "latest_checkpointed_iteration.txt";

    /// <summary>ALCF's marker at the save root: <c>{iteration, lr}</c> as YAML, whose lr a resumed run takes over args.lr.</summary>
    public const string LrStateYaml = "lr_state_dict.yaml";

    /// <summary>One pipeline layer's weights on one tensor rank: <c>layer_{idx:02}-model_{tp:02}-model_states.pt</c>.</summary>
    public static string LayerFile(int layer, int tpRank) =>
        $"layer_{layer.ToString("00", CultureInfo.InvariantCulture)}-model_{tpRank.ToString("00", CultureInfo.InvariantCulture)}-model_states.pt";

    /// <summary>Recognises a layer file name; returns its layer index and tensor rank.</summary>
    public static bool TryParseLayerFile(string name, out int layer, out int tpRank)
    {
        Match m = LayerRegex().Match(name);
        layer = tpRank = -1;
        return m.Success
            && int.TryParse(m.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out layer)
            && int.TryParse(m.Groups[2].Value, NumberStyles.None, CultureInfo.InvariantCulture, out tpRank);
    }

    /// <summary>Recognises a model-state file name <c>mp_rank_XX_model_states.pt</c>.</summary>
    public static bool TryParseModelStates(string name, out int mpRank)
    {
        Match m = ModelStatesRegex().Match(name);
        mpRank = -1;
        return m.Success && int.TryParse(m.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out mpRank);
    }

    [GeneratedRegex(@"^layer_(\d+)-model_(\d+)-model_states\.pt$")]
    private static partial Regex LayerRegex();

    [GeneratedRegex(@"^mp_rank_(\d+)_model_states\.pt$")]
    private static partial Regex ModelStatesRegex();
}
