using Ckptmpi.Errors;
using Ckptmpi.Formats.DeepSpeed;
using Ckptmpi.Formats.Torch;

namespace Ckptmpi.Formats.MegaDs;

/// <summary>
/// The small files of a trained Megatron-DeepSpeed tag folder that a DeepSpeed universal checkpoint reuses (see
/// <see cref="SourceFacts.NativeFiles"/>): every <c>mp_rank_XX_model_states.pt</c> verbatim (Megatron's args, the
/// parameter names and the TP-merge patterns of <c>universal_checkpoint_info</c>), and the pickle of the first
/// optimizer file (its hyperparameters; the pickle only, never the partitions it points at).
/// </summary>
internal static class MegaDsNativeFiles
{
    /// <summary>The key of the pickle (<c>data.pkl</c>) of data rank 0's optimizer file of model-parallel rank 0.</summary>
    public const string OptimizerPickle = "optim_states.data.pkl";

    public static IReadOnlyDictionary<string, byte[]> Collect(MegaDsCheckpoint c)
    {
        var files = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        for (int mp = 0; mp < c.Model.Tp * c.Model.Pp; mp++)
        {
            string name = DeepSpeedPaths.ModelStates(mp);
            files[name] = File.ReadAllBytes(Path.Combine(c.TagDir, name));
        }
        string optim = Directory.EnumerateFiles(c.TagDir).Select(Path.GetFileName)
            .FirstOrDefault(n => DeepSpeedPaths.TryParseOptimStates(n!, out int dp, out int mp, out _) && dp == 0 && mp == 0)
            ?? throw new CheckpointFormatException(c.TagDir, null, "no optimizer file of data rank 0 and model-parallel rank 0");
        string path = Path.Combine(c.TagDir, optim);
        TorchArchive a = TorchArchive.Open(path);
        var record = a.Directory.FindRecord("data.pkl") ?? throw new CheckpointFormatException(path, null, "no data.pkl record");
        var pickle = new byte[record.Length];
        using (var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1))
        {
            fs.Position = record.Data.Start;
            fs.ReadExactly(pickle);
        }
        files[OptimizerPickle] = pickle;
        return files;
    }
}
