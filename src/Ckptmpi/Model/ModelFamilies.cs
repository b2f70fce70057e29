using Ckptmpi.Errors;

namespace Ckptmpi.Model;

/// <summary>
/// The registry of supported model families: one line per family. Resolves config.json's
/// <c>architectures</c> (or, when absent, <c>model_type</c>) to its <see cref="IModelFamily"/>.
/// </summary>
public static class ModelFamilies
{
    /// <summary>Every registered family, in the order they are listed to users.</summary>
    public static IReadOnlyList<IModelFamily> All { get; } =
    [
        LlamaFamily.Llama,
        LlamaFamily.Mistral,
        LlamaFamily.Qwen2,
        LlamaFamily.Gemma,
        LlamaFamily.Gemma2,
        LlamaFamily.Mixtral,
        Phi3Family.Instance,
        GptNeoXFamily.Instance,
        Gpt2Family.Instance,
        FalconFamily.Instance,
    ];

    /// <summary>Every accepted <c>architectures</c> value, for error messages and help text.</summary>
    public static IReadOnlyList<string> Names { get; } = All.SelectMany(f => f.Architectures).ToArray();

    /// <summary>The family that handles <paramref name="architecture"/> (or, if that is null, <paramref name="modelType"/>).</summary>
    /// <exception cref="UnsupportedCheckpointException">Neither names a registered family; the message lists the supported architectures.</exception>
    public static IModelFamily Resolve(string? architecture, string? modelType, string path)
    {
        if (architecture is not null)
        {
            foreach (IModelFamily f in All)
            {
                if (f.Architectures.Contains(architecture, StringComparer.Ordinal)) return f;
            }
            throw new UnsupportedCheckpointException(path,
                $"architecture '{architecture}' is not supported; supported: {string.Join(", ", Names)}");
        }
        if (modelType is not null)
        {
            foreach (IModelFamily f in All)
            {
                if (f.Name == modelType) return f;
            }
            throw new UnsupportedCheckpointException(path,
                $"model_type '{modelType}' is not supported (and config.json lists no architectures); supported: {string.Join(", ", Names)}");
        }
        throw new UnsupportedCheckpointException(path,
            $"config.json names neither 'architectures' nor 'model_type', so the model family is unknown; supported: {string.Join(", ", Names)}");
    }
}
