using Ckptmpi.Tensors;

namespace Ckptmpi.Formats.DeepSpeed;

/// <summary>
/// One parameter of the model a ZeRO checkpoint is written for: its HF name (also the canonical tensor the writer
/// reads), shape and source dtype. Params must be listed in the module's registration order (what
/// <c>module.state_dict()</c> and <c>module.named_parameters()</c> yield; see <see cref="ZeroParams"/>), because that
/// order fixes the flat-buffer layout.
/// </summary>
public sealed record ParamSpec(string Name, IReadOnlyList<long> Shape, DType DType)
{
    /// <summary>False for a frozen param (<c>requires_grad=False</c>): not flattened, kept in the model-state files.</summary>
    public bool Trainable { get; init; } = true;

    /// <summary>
    /// The name of the param whose data this one shares (a tied alias such as <c>lm_head.weight</c> tied to
    /// <c>model.embed_tokens.weight</c>), or null. An alias appears in <c>module</c> and <c>shared_params</c> only.
    /// </summary>
    public string? TiedTo { get; init; }

    public long ElementCount => DTypes.ElementCount(Shape.ToArray());
}
