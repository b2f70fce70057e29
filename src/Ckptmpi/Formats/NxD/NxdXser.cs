using Ckptmpi.Errors;
using Ckptmpi.Formats.Torch;
using Ckptmpi.Formats.Torch.Pickle;
using Ckptmpi.Tensors;

namespace Ckptmpi.Formats.NxD;

/// <summary>One key of a rank file and where its elements are: in the rank file itself, or (xser by reference) in <c>&lt;file&gt;.tensors/tensor_&lt;tid&gt;.pt</c>.</summary>
internal sealed record NxdStored(string Key, PyTensor Tensor, string File, long ByteOffset);

/// <summary>
/// The tensors of one rank file. Plain and converter-written xser files hold them inline; NxDT training's xser
/// writer replaces each by a <c>torch_xla.utils.serialization.TensorReference</c> (attribute <c>tid</c>) stored as
/// <c>&lt;file&gt;.tensors/tensor_&lt;tid&gt;.pt</c>. Both are read without loading tensor data; any other global in the
/// dict is refused (only plain tensors and references belong in a rank file).
/// </summary>
internal static class NxdXser
{
    /// <summary>The key NxD's converter descends into when a rank dict has it (<c>--model_key</c>).</summary>
    public const string ModelKey = "model";

    public static readonly PyGlobal TensorReference = new("torch_xla.utils.serialization", "TensorReference");

    /// <summary><c>&lt;file&gt;.tensors</c>: the folder of the referenced tensors, empty in the inline form.</summary>
    public static string TensorFolder(string rankFile) => rankFile + ".tensors";

    /// <summary><c>&lt;file&gt;.tensors/tensor_&lt;tid&gt;.pt</c>, relative like <paramref name="rankFile"/>.</summary>
    public static string TensorFile(string rankFile, long tid) => $"{TensorFolder(rankFile)}/tensor_{tid}.pt";

    /// <summary><c>&lt;file&gt;.info.pt</c>: tid -> dtype, shape, expert_model_parallel.</summary>
    public static string InfoFile(string rankFile) => rankFile + ".info.pt";

    /// <exception cref="CheckpointFormatException">a value is neither a tensor nor a reference, or a reference's file is missing or malformed.</exception>
    public static IEnumerable<NxdStored> Tensors(TorchArchive archive, string path, string relativeFile, bool xser)
    {
        if (archive.Root is not PyDict dict) throw new CheckpointFormatException(path, null, $"the pickle is a {archive.Root.GetType().Name}, not the dict of tensors an NxDT rank file holds");
        // NxD's converter descends into a "model" entry when there is one (its --model_key default): a rank file of a
        // training checkpoint may wrap the state dict that way.
        if (dict.Items.Count == 1 && dict.Get(ModelKey) is PyDict inner) dict = inner;
        foreach (var (k, v) in dict.Items)
        {
            if (k is not PyString key) throw new CheckpointFormatException(path, null, $"a key of the rank dict is a {k.GetType().Name}, not a string");
            switch (v)
            {
                case PyTensor t:
                    yield return new NxdStored(key.Value, t, relativeFile, archive.RangeOf(t.Storage).Start + t.StorageOffset * t.DType.SizeInBytes());
                    break;
                case PyObject { Callable: var g } o when g == TensorReference:
                    if (!xser) throw new CheckpointFormatException(path, null, $"'{key.Value}' is an xser TensorReference: this checkpoint was saved with torch_xla serialization; add --xser", key.Value);
                    yield return Referenced(path, relativeFile, key.Value, o);
                    break;
                case PyObject o:
                    throw new CheckpointFormatException(path, null, $"'{key.Value}' is a {o.Callable} object; an NxDT rank file holds only tensors (a global outside the allowlist is never loaded)", key.Value);
                default:
                    throw new CheckpointFormatException(path, null, $"'{key.Value}' is a {v.GetType().Name}, not a tensor", key.Value);
            }
        }
    }

    private static NxdStored Referenced(string path, string relativeFile, string key, PyObject reference)
    {
        long tid = reference.State switch
        {
            PyDict d when d.Get("tid") is PyInt i && i.Value >= 0 && i.Value <= int.MaxValue => i.AsLong,
            _ => throw new CheckpointFormatException(path, null, $"'{key}' is a TensorReference without a non-negative integer 'tid'", key),
        };
        // The id names the file: only digits reach the path, so a reference cannot point outside <file>.tensors/.
        string relative = TensorFile(relativeFile, tid);
        string dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        string full = Path.Combine(dir, relative);
        if (!File.Exists(full)) throw new CheckpointFormatException(full, null, $"'{key}' of {path} refers to tensor {tid}, whose file is missing", key);
        // A link may not lead the read outside the checkpoint's folder.
        if (new FileInfo(full).ResolveLinkTarget(returnFinalTarget: true) is FileSystemInfo target
            && !Path.GetFullPath(target.FullName).StartsWith(dir + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            throw new CheckpointFormatException(full, null, $"'{key}' of {path} refers to tensor {tid}, whose file links outside the checkpoint ({target.FullName})", key);
        TorchArchive archive = TorchArchive.Open(full);
        if (archive.Root is not PyTensor t) throw new CheckpointFormatException(full, null, $"holds a {archive.Root.GetType().Name}, not the one tensor an xser tensor file holds", key);
        return new NxdStored(key, t, relative, archive.RangeOf(t.Storage).Start + t.StorageOffset * t.DType.SizeInBytes());
    }
}
