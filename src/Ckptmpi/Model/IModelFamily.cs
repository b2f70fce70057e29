namespace Ckptmpi.Model;

/// <summary>
/// A family of model architectures that share canonical tensor names and layout rules (adding one is one line:
/// families register in <see cref="ModelFamilies"/>; an unknown architecture is an error that lists the known ones).
/// </summary>
public interface IModelFamily
{
    /// <summary>Short family name ("llama", "mistral", "qwen2"), as in config.json's <c>model_type</c>.</summary>
    string Name { get; }

    /// <summary>The <c>architectures[0]</c> values of config.json this family accepts (e.g. <c>LlamaForCausalLM</c>).</summary>
    IReadOnlyList<string> Architectures { get; }

    /// <summary>
    /// Every parameter of the model's CausalLM class, named and shaped as HuggingFace stores it, in the order
    /// <c>model.named_parameters()</c> yields them. Tied embeddings yield no <c>lm_head.weight</c>.
    /// Pure function of <paramref name="config"/>: no I/O.
    /// </summary>
    IReadOnlyList<CanonicalTensor> CanonicalTensors(ModelConfig config);

    /// <summary>
    /// True for tensors some checkpoints carry that are buffers, not parameters (e.g. old HF Llama files'
    /// <c>rotary_emb.inv_freq</c>, recomputed from the config): readers ignore them and they count toward nothing.
    /// </summary>
    bool IsBuffer(string tensorName);
}
