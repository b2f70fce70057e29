using Ckptmpi.Errors;
using Ckptmpi.Formats.Torch;
using Ckptmpi.Formats.Torch.Pickle;

namespace Ckptmpi.Formats.MegaDs;

/// <summary>
/// The globals a Megatron-DeepSpeed file may reference, exactly those the real files use (argonne-lcf
/// Megatron-DeepSpeed with DeepSpeed 0.14.4). Our pickle reader never imports or calls anything, but a global outside
/// this list means a file we do not understand, so it is refused rather than half read.
/// </summary>
internal static class MegaDsGlobals
{
    private static readonly HashSet<PyGlobal> Tensors =
    [
        TorchGlobals.OrderedDict, TorchGlobals.RebuildTensorV2,
        new("torch", "BFloat16Storage"), new("torch", "FloatStorage"), new("torch", "HalfStorage"),
    ];

    // mp_rank_XX_model_states.pt: Megatron's client state. args is an argparse.Namespace holding the enum
    // megatron.core.enums.ModelType (by name through getattr on some Pythons), params_dtype (torch.bfloat16) and two
    // tensors (attn_mask, bool; rotary_pos_emb); rng_state holds numpy's generator (an ndarray) and bytes (_codecs);
    // sparse_tensor_module_names is a set; param_shapes are torch.Size.
    private static readonly HashSet<PyGlobal> ModelStates =
    [
        .. Tensors,
        TorchGlobals.Namespace, new("megatron.core.enums", "ModelType"), TorchGlobals.GetAttr, TorchGlobals.Set,
        TorchGlobals.CodecsEncode, TorchGlobals.Size,
        new("torch", "bfloat16"), new("torch", "float16"), new("torch", "float32"),
        new("torch", "BoolStorage"), new("torch", "ByteStorage"),
        new("numpy", "dtype"), new("numpy", "ndarray"), new("numpy.core.multiarray", "_reconstruct"),
    ];

    /// <summary>Refuses a layer file that references anything but OrderedDicts and tensors.</summary>
    public static void CheckLayerFile(TorchArchive a) => Check(a, Tensors, "a layer file");

    /// <summary>Refuses a model-state file that references a global the real ones do not.</summary>
    public static void CheckModelStates(TorchArchive a) => Check(a, ModelStates, "a model-state file");

    private static void Check(TorchArchive a, HashSet<PyGlobal> allowed, string what)
    {
        var seen = new HashSet<PyValue>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<PyValue>();
        stack.Push(a.Root);
        while (stack.Count > 0)
        {
            PyValue v = stack.Pop();
            if (!seen.Add(v)) continue;
            PyGlobal? g = v switch
            {
                PyGlobal x => x,
                PyObject o => o.Callable,
                PyStorage s => TorchGlobals.StorageClass(s.Storage.DType),
                PyTensor t => TorchGlobals.StorageClass(t.DType),
                _ => null,
            };
            if (g is not null && !allowed.Contains(g))
                throw new UnsupportedCheckpointException(a.Path, $"the pickle references {g}, which {what} of Megatron-DeepSpeed does not hold; refusing a file we do not understand");
            foreach (PyValue child in PickleGraph.Children(v)) stack.Push(child);
        }
    }
}
