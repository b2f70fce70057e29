namespace Ckptmpi.Model;

/// <summary>
/// One logical tensor of a model in the canonical (HuggingFace) naming and <c>[out, in]</c> orientation
/// (<c>Linear.weight</c> as PyTorch stores it), known from the architecture alone. Deconstructs like a tuple:
/// <c>foreach (var (name, shape) in family.CanonicalTensors(config))</c>.
/// </summary>
public readonly record struct CanonicalTensor(string Name, long[] Shape)
{
    /// <summary>Number of elements (product of the shape; 1 for a scalar), overflow-checked.</summary>
    public long ElementCount
    {
        get
        {
            long n = 1;
            foreach (long d in Shape) n = checked(n * d);
            return n;
        }
    }

    /// <summary>The owning module as PyTorch names it: the name without its last component
    /// (<c>model.layers.0.self_attn.q_proj.weight</c> -> <c>model.layers.0.self_attn.q_proj</c>; "" for a root parameter).</summary>
    public string Module => ModuleOf(Name);

    public static string ModuleOf(string parameterName)
    {
        int dot = parameterName.LastIndexOf('.');
        return dot < 0 ? "" : parameterName[..dot];
    }

    public override string ToString() => $"{Name} [{string.Join(", ", Shape)}]";
}
