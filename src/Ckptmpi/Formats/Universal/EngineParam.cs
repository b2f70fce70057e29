using Ckptmpi.Errors;
using Ckptmpi.Formats.DeepSpeed;
using Ckptmpi.Formats.MegaDs;
using Ckptmpi.Formats.Torch;
using Ckptmpi.Formats.Torch.Pickle;
using static Ckptmpi.Formats.MegaDs.MegaDsLayout;

namespace Ckptmpi.Formats.Universal;

/// <summary>
/// One GPTModelPipe parameter as a universal checkpoint holds it: its engine name (the folder name), how
/// ds_to_universal merged it, the merged shape before the vocabulary padding is dropped, and the shape of the stored
/// tensor after. <see cref="Hf"/> names the HuggingFace tensors it is made of, in the merged tensor's row order.
/// </summary>
internal sealed record EngineParam(string Name, int Layer, string Local, MergeRule Rule, long[] Merged, long[] Stored, string[] Hf)
{
    /// <summary>The parameters the model-state files list in <c>param_shapes</c> (every model-parallel rank's, first listing first), with their merge rules.</summary>
    /// <exception cref="CheckpointFormatException">a parameter that is not one of GPTModelPipe's, a slice shape that contradicts args.</exception>
    public static List<EngineParam> List(MegaDsModel m, IReadOnlyList<TorchArchive> modelStates)
    {
        TorchArchive ms0 = modelStates[0];
        PyDict root0 = PyRead.Dict(ms0.Root, ms0.Path, "model-state file");
        PyDict info = root0.Get("universal_checkpoint_info") as PyDict
            ?? throw new CheckpointFormatException(ms0.Path, null, "no universal_checkpoint_info: Megatron-DeepSpeed writes it with --universal-checkpoint support, and a universal checkpoint needs its patterns");
        if (m.Tied) throw new UnsupportedCheckpointException(ms0.Path, "tied embeddings: DeepSpeed's universal loader cannot name the tied module (ds_to_universal fails on it too)");
        var slices = new List<(string Name, long[] Shape)>();
        foreach (TorchArchive a in modelStates)
        {
            PyDict root = PyRead.Dict(a.Root, a.Path, "model-state file");
            foreach (PyValue group in PyRead.List(root.Get("param_shapes"), a.Path, "param_shapes"))
            {
                foreach (var (name, shape) in PyRead.Named(PyRead.Dict(group, a.Path, "param_shapes group"), a.Path, "param_shapes"))
                {
                    int at = slices.FindIndex(s => s.Name == name);
                    long[] s = PyRead.Shape(shape, a.Path, name);
                    if (at < 0) slices.Add((name, s));
                    else slices[at] = (name, s);
                }
            }
        }
        var list = new List<EngineParam>();
        foreach (var (name, slice) in slices)
        {
            if (!TryParseEngineName(name, out int layer, out string local) || !m.LayerFiles.Contains(layer) || Params(m, layer).All(p => p.Name != local))
                throw new CheckpointFormatException(ms0.Path, null, $"param_shapes lists '{name}', which is no parameter of a GPTModelPipe of {m}");
            long[] expected = Params(m, layer).First(p => p.Name == local).Shape;
            if (!slice.SequenceEqual(expected)) throw new ShapeMismatchException(ms0.Path, name, expected, slice, $"the model is {m}");
            MergeRule rule = MergeRule.For(name, info, ms0.Path);
            long[] merged = rule.Merged(slice, m.Tp), stored = (long[])merged.Clone();
            if (rule.Vocab) stored[0] = m.Vocab;
            list.Add(new EngineParam(name, layer, local, rule, merged, stored, HfNames(m, layer, local)));
        }
        return list;
    }

    /// <summary>The HF tensors of a parameter: q, k, v of the fused QKV; gate, up of the fused SwiGLU; else one.</summary>
    public static string[] HfNames(MegaDsModel m, int layer, string local)
    {
        if (layer == m.EmbedLayer) return ["model.embed_tokens.weight"];
        if (layer == m.NormLayer) return ["model.norm.weight"];
        if (layer == m.HeadLayer) return ["lm_head.weight"];
        string p = $"model.layers.{layer - m.TransformerLayer(0)}.";
        return local switch
        {
            InputNorm => [p + "input_layernorm.weight"],
            PostNorm => [p + "post_attention_layernorm.weight"],
            Dense => [p + "self_attn.o_proj.weight"],
            FourHToH => [p + "mlp.down_proj.weight"],
            Qkv => [p + "self_attn.q_proj.weight", p + "self_attn.k_proj.weight", p + "self_attn.v_proj.weight"],
            H4h => [p + "mlp.gate_proj.weight", p + "mlp.up_proj.weight"],
            _ => throw new ArgumentOutOfRangeException(nameof(local), local, "not a GPTModelPipe parameter"),
        };
    }

    public bool IsQkv => Local == Qkv;

    public long StoredCount => Ckptmpi.Tensors.DTypes.ElementCount(Stored);

    public long MergedCount => Ckptmpi.Tensors.DTypes.ElementCount(Merged);
}
