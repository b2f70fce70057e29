using Ckptmpi.Errors;
using Ckptmpi.Formats.Torch;

namespace Ckptmpi.Formats.DeepSpeed;

/// <summary>
/// The small parts of a trained ZeRO tag folder that a DeepSpeed universal checkpoint reuses (see
/// <see cref="SourceFacts.NativeFiles"/>): the pickle of data rank 0's model-state file (the engine's counters,
/// <c>param_shapes</c>, <c>dp_world_size</c>, the config; its module tensors stay in the file, where the catalog
/// finds them) and the pickle of data rank 0's optimizer file (the hyperparameters; never the partitions it points
/// at), with the names of both files for messages.
/// </summary>
internal static class ZeroNativeFiles
{
    /// <summary>Keys: the two pickles (<c>data.pkl</c> records), and the file names they came from (UTF-8).</summary>
    public const string OptimizerPickle = "optim_states.data.pkl", ModelStatesPickle = "model_states.data.pkl",
        OptimizerFile = "optim_states.name", ModelStatesFile = "model_states.name";

    public static IReadOnlyDictionary<string, byte[]> Collect(string tagDir, ZeroCheckpointInfo info)
    {
        string model = info.Stage == 3 ? DeepSpeedPaths.Zero3ModelStates(0) : DeepSpeedPaths.ModelStates(0);
        string optim = DeepSpeedPaths.OptimStates(0, info.Bf16);
        return new Dictionary<string, byte[]>(StringComparer.Ordinal)
        {
            [ModelStatesPickle] = PickleOf(Path.Combine(tagDir, model)),
            [ModelStatesFile] = System.Text.Encoding.UTF8.GetBytes(model),
            [OptimizerPickle] = PickleOf(Path.Combine(tagDir, optim)),
            [OptimizerFile] = System.Text.Encoding.UTF8.GetBytes(optim),
        };
    }

    /// <summary>The <c>data.pkl</c> record of a torch.save file: the object graph without the storages' bytes.</summary>
    public static byte[] PickleOf(string path)
    {
        TorchArchive a = TorchArchive.Open(path);
        var record = a.Directory.FindRecord("data.pkl") ?? throw new CheckpointFormatException(path, null, "no data.pkl record");
        var pickle = new byte[record.Length];
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1);
        fs.Position = record.Data.Start;
        fs.ReadExactly(pickle);
        return pickle;
    }
}
