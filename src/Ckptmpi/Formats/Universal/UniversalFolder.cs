using Ckptmpi.Errors;
using Ckptmpi.Formats.DeepSpeed;
using Ckptmpi.Formats.MegaDs;
using Ckptmpi.Formats.Torch;

namespace Ckptmpi.Formats.Universal;

/// <summary>A universal tag folder on disk: where it is, and the model and parameters its model-state files describe.</summary>
internal sealed record UniversalFolder(string Dir, string Tag, MegaDsModel Model, List<EngineParam> Params, List<string> FilesRead)
{
    /// <summary>
    /// The tag folder: <paramref name="input"/> itself when it holds <c>zero/</c> and the model states, else the
    /// folder <paramref name="tag"/> or <c>latest_universal</c> names inside it.
    /// </summary>
    public static string? Resolve(string input, string? tag, out string tagName)
    {
        tagName = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(input)));
        if (tag is null && IsTagFolder(input)) return input;
        if (tag is null)
        {
            string latest = Path.Combine(input, UniversalPaths.LatestUniversal);
            if (!File.Exists(latest)) return null;
            tag = DeepSpeedPaths.ReadLatest(latest);
        }
        tagName = tag;
        return Path.Combine(input, tag);
    }

    public static bool IsTagFolder(string dir) =>
        Directory.Exists(Path.Combine(dir, UniversalPaths.Zero)) && File.Exists(Path.Combine(dir, DeepSpeedPaths.ModelStates(0)));

    /// <exception cref="CheckpointFormatException">no universal folder, a model-state file missing, a parameter unknown.</exception>
    public static UniversalFolder Open(string input, string? tag)
    {
        string dir = Resolve(input, tag, out string tagName)
            ?? throw new CheckpointFormatException(input, null, $"not a universal checkpoint: neither a '{UniversalPaths.LatestUniversal}' file nor a tag folder with '{UniversalPaths.Zero}/' and {DeepSpeedPaths.ModelStates(0)}");
        if (!IsTagFolder(dir))
            throw new CheckpointFormatException(dir, null, $"universal tag folder '{tagName}' does not exist or lacks '{UniversalPaths.Zero}/' or {DeepSpeedPaths.ModelStates(0)}");
        var read = new List<string>();
        string ms0Path = Path.Combine(dir, DeepSpeedPaths.ModelStates(0));
        TorchArchive ms0 = TorchArchive.Open(ms0Path);
        MegaDsGlobals.CheckModelStates(ms0);
        read.Add(ms0Path);
        MegaDsModel m = MegaDsModel.FromModelStates(ms0);
        var states = new List<TorchArchive> { ms0 };
        for (int mp = 1; mp < m.Tp * m.Pp; mp++)
        {
            string path = Path.Combine(dir, DeepSpeedPaths.ModelStates(mp));
            if (!File.Exists(path)) throw new CheckpointFormatException(path, null, $"model-state file is missing: args say tp {m.Tp} x pp {m.Pp} model-parallel ranks");
            TorchArchive a = TorchArchive.Open(path);
            MegaDsGlobals.CheckModelStates(a);
            states.Add(a);
            read.Add(path);
        }
        return new UniversalFolder(dir, tagName, m, EngineParam.List(m, states), read);
    }
}
