using Ckptmpi.Errors;
using Ckptmpi.Formats.Torch.Pickle;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Formats.Torch;

// pytorch_model.bin, Meta consolidated.NN.pth and similar files are torch.save'd
// (nested) dicts of name -> tensor.

/// <summary>
/// Reads a state dict out of a <see cref="TorchArchive"/>: tensors by dotted name, and as
/// <see cref="SourceTensor"/>s whose single piece is the tensor's contiguous bytes in the file (tied weights
/// simply point at the same bytes).
/// </summary>
public static class TorchStateDict
{
    /// <summary>
    /// Every tensor under <paramref name="root"/>, in insertion order, named by joining nested dict keys with
    /// <paramref name="separator"/> (a flat state dict gives its own keys). Non-tensor leaves are skipped.
    /// </summary>
    public static IReadOnlyList<(string Name, PyTensor Tensor)> Flatten(PyValue root, string separator = ".")
    {
        var result = new List<(string, PyTensor)>();
        var stack = new Stack<(string Prefix, PyValue Value)>();
        stack.Push(("", root));
        while (stack.Count > 0)
        {
            var (prefix, value) = stack.Pop();
            switch (value)
            {
                case PyTensor t:
                    result.Add((prefix, t));
                    break;
                case PyDict d:
                    // Push in reverse so the walk keeps insertion order.
                    for (int i = d.Items.Count - 1; i >= 0; i--)
                    {
                        string key = d.Items[i].Key switch { PyString s => s.Value, PyInt n => n.Value.ToString(), _ => "" };
                        if (key.Length == 0) continue;
                        stack.Push((prefix.Length == 0 ? key : prefix + separator + key, d.Items[i].Value));
                    }
                    break;
            }
        }
        return result;
    }

    /// <summary>
    /// The tensors of the state dict as source tensors in <paramref name="relativeFile"/> (the name the
    /// <see cref="SourceCatalog"/> uses for this file).
    /// </summary>
    /// <exception cref="UnsupportedCheckpointException">A tensor is a non-contiguous view (its elements are not one run of bytes).</exception>
    public static IReadOnlyList<SourceTensor> ToSourceTensors(TorchArchive archive, string relativeFile, string separator = ".")
    {
        var result = new List<SourceTensor>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, t) in Flatten(archive.Root, separator))
        {
            if (!names.Add(name))
                throw new CheckpointFormatException(archive.Path, null, $"tensor name '{name}' occurs twice after flattening nested dicts", name);
            if (!t.IsContiguous)
                throw new UnsupportedCheckpointException(archive.Path, $"tensor '{name}' is a non-contiguous view (shape [{string.Join(", ", t.Shape)}], stride [{string.Join(", ", t.Stride)}]); re-save it with .contiguous()");
            long numel = t.ElementCount;
            IReadOnlyList<SourcePiece> pieces = numel == 0
                ? []
                : [new SourcePiece(0, numel, relativeFile, archive.RangeOf(t).Start, t.DType)];
            result.Add(new SourceTensor(name, t.DType, t.Shape, pieces));
        }
        return result;
    }
}
