namespace Ckptmpi.Model;

/// <summary>
/// A family of model architectures that share canonical tensor names and layout rules (adding one is one line:
/// families register in <see cref="ModelFamilies"/>; an unknown architecture is an error that lists the known ones).
/// </summary>
public interface IModelFamily
{
    /// <summary>Short family name ("llama", "gpt2", "falcon"), as in config.json's <c>model_type</c>.</summary>
    string Name { get; }

    /// <summary>The <c>architectures[0]</c> values of config.json this family accepts (e.g. <c>LlamaForCausalLM</c>).</summary>
    IReadOnlyList<string> Architectures { get; }

    /// <summary>The output head and the embedding it shares when config.json sets <c>tie_word_embeddings</c>.</summary>
    TiedWeights Tied { get; }

    /// <summary>
    /// The family's facts from config.json, with the defaults of its transformers config class. The caller fills in
    /// path, architecture, model type and family.
    /// </summary>
    /// <exception cref="Ckptmpi.Errors.CheckpointFormatException">A key is missing, of the wrong type or out of range.</exception>
    /// <exception cref="Ckptmpi.Errors.UnsupportedCheckpointException">The config asks for a variant the family does not describe.</exception>
    ModelConfig Read(ConfigJson keys);

    /// <summary>
    /// Every parameter of the model's CausalLM class, named and shaped as HuggingFace stores it, in the order
    /// <c>model.named_parameters()</c> yields them. Tied embeddings yield no <c>lm_head.weight</c>.
    /// Pure function of <paramref name="config"/>: no I/O.
    /// </summary>
    IReadOnlyList<CanonicalTensor> CanonicalTensors(ModelConfig config);

    /// <summary>
    /// True for tensors some checkpoints carry that are buffers, not parameters (old HF Llama files'
    /// <c>rotary_emb.inv_freq</c>, old GPT-2 exports' <c>attn.bias</c>): transformers ignores them on load, so do we.
    /// </summary>
    bool IsBuffer(string tensorName);
}
