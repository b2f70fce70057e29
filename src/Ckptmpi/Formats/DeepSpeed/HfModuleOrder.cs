using System.Globalization;

namespace Ckptmpi.Formats.DeepSpeed;

/// <summary>
/// Puts HuggingFace Llama-family parameter names (Llama, Mistral, Qwen2) in the order the PyTorch modules register
/// them, which is the order of <c>state_dict()</c>, of <c>parameters()</c> and therefore of ZeRO's flat buffers. A
/// safetensors file lists tensors alphabetically, which is not that order (<c>lm_head</c> would come first).
/// </summary>
/// <remarks>
/// Order: <c>model.embed_tokens</c>, then each <c>model.layers.N</c> by N (within a layer: self_attn q, k, v, o; mlp gate,
/// up, down; input_layernorm; post_attention_layernorm; weight before bias), then <c>model.norm</c>, then <c>lm_head</c>.
/// Unknown names keep their relative order after the known ones of the same scope.
/// </remarks>
public static class HfModuleOrder
{
    private static readonly string[] LayerModules =
    [
        "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
        "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj",
        "input_layernorm", "post_attention_layernorm",
    ];

    private const string LayersPrefix = "model.layers.";

    public static IReadOnlyList<string> Sort(IEnumerable<string> names) =>
        names.Select((n, i) => (n, i)).OrderBy(x => Key(x.n, x.i)).Select(x => x.n).ToList();

    private static (int Top, long Layer, int Sub, int Leaf, int Index) Key(string name, int index)
    {
        if (name.StartsWith("model.embed_tokens.", StringComparison.Ordinal)) return (0, 0, 0, Leaf(name), index);
        if (name.StartsWith(LayersPrefix, StringComparison.Ordinal))
        {
            string rest = name[LayersPrefix.Length..];
            int dot = rest.IndexOf('.');
            if (dot > 0 && long.TryParse(rest.AsSpan(0, dot), NumberStyles.None, CultureInfo.InvariantCulture, out long layer))
            {
                string inner = rest[(dot + 1)..];
                int sub = Array.FindIndex(LayerModules, m => inner.StartsWith(m + ".", StringComparison.Ordinal));
                return (1, layer, sub < 0 ? LayerModules.Length : sub, Leaf(name), index);
            }
        }
        if (name.StartsWith("model.norm.", StringComparison.Ordinal)) return (2, 0, 0, Leaf(name), index);
        if (name.StartsWith("lm_head.", StringComparison.Ordinal)) return (3, 0, 0, Leaf(name), index);
        return (4, 0, 0, 0, index);
    }

    // nn.Linear registers weight before bias.
    private static int Leaf(string name) => name.EndsWith(".weight", StringComparison.Ordinal) ? 0 : name.EndsWith(".bias", StringComparison.Ordinal) ? 1 : 2;
}
