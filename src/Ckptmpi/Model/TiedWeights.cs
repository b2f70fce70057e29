namespace Ckptmpi.Model;

/// <summary>
/// The output head a model shares with its input embedding when config.json's <c>tie_word_embeddings</c> is set
/// (<c>lm_head.weight</c> and <c>model.embed_tokens.weight</c> for Llama): <c>named_parameters()</c> yields the
/// embedding only, DeepSpeed saves the head as an alias of it, and transformers ignores a stored copy on load.
/// </summary>
public sealed record TiedWeights(string Head, string Embedding);
