using Ckptmpi.Model;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;
using Ckptmpi.Tensors.Views;

namespace Ckptmpi.Formats.MaxText;

/// <summary>
/// The MaxText parameter tree of a Llama-style decoder from canonical HF tensors, as MaxText's own converter builds
/// it: kernels are the transposed torch weights reshaped to <c>[embed, heads, head_dim]</c> forms, the query divided
/// by <c>sqrt(head_dim)</c> rounded to bf16 (the quotient in fp32, rounded), q and k in the rotary order the model
/// name selects, and with scanned layers every per-layer array stacked on axis 1. With int8, each decoder kernel
/// becomes AQT's frozen right-hand side (int8 values and per-channel scales over the contraction axes: the first
/// axis, the first two for <c>out</c>), and the embedding, norms and logits stay as they are.
/// </summary>
internal static class MaxTextTree
{
    private const string Aqt = "AqtDotGeneral_0";

    /// <summary>One kernel before layers are stacked: record shape, the HF tensor, its split shape, and the permutation (record axis i = split axis Perm[i]).</summary>
    private sealed record Kernel(string[] Path, long[] Shape, long[] Record, Func<long, string> Tensor, long[] Split, int[] Perm, int[] SplitOrder,
                                 bool ScaleQuery = false, int[]? Contract = null);

    public static List<MaxTextLeaf> Build(ModelConfig c, bool scanned, bool interleaved, bool int8, DType dtype)
    {
        long h = c.HiddenSize, nq = c.NumAttentionHeads, nkv = c.NumKeyValueHeads, d = c.HeadDim, inter = c.IntermediateSize, v = c.VocabSize, layers = c.NumHiddenLayers;
        float divisor = QueryDivisor(d);
        var leaves = new List<MaxTextLeaf>
        {
            Whole(["token_embedder", "embedding"], [v, h], "model.embed_tokens.weight", [0, 1], [0], dtype),
            Whole(["decoder", "decoder_norm", "scale"], [h], "model.norm.weight", [0], [0], dtype),
            Whole(["decoder", "logits_dense", "kernel"], [h, v], "lm_head.weight", [1, 0], [1], dtype),
        };
        string P(long l, string name) => $"model.layers.{l}.{name}";
        var kernels = new List<Kernel>
        {
            new(["pre_self_attention_layer_norm", "scale"], [h], [h], l => P(l, "input_layernorm.weight"), [h], [0], [0]),
            new(["post_self_attention_layer_norm", "scale"], [h], [h], l => P(l, "post_attention_layernorm.weight"), [h], [0], [0]),
            Rotary(["self_attention", "query", "kernel"], h, nq, d, l => P(l, "self_attn.q_proj.weight"), interleaved) with { ScaleQuery = true, Contract = [0] },
            Rotary(["self_attention", "key", "kernel"], h, nkv, d, l => P(l, "self_attn.k_proj.weight"), interleaved) with { Contract = [0] },
            new(["self_attention", "value", "kernel"], [h, nkv, d], [h, nkv, d], l => P(l, "self_attn.v_proj.weight"), [nkv, d, h], [2, 0, 1], [1], Contract: [0]),
            new(["self_attention", "out", "kernel"], [nq, d, h], [nq, d, h], l => P(l, "self_attn.o_proj.weight"), [h, nq, d], [1, 2, 0], [2], Contract: [0, 1]),
            new(["mlp", "wi_0", "kernel"], [h, inter], [h, inter], l => P(l, "mlp.gate_proj.weight"), [inter, h], [1, 0], [1], Contract: [0]),
            new(["mlp", "wi_1", "kernel"], [h, inter], [h, inter], l => P(l, "mlp.up_proj.weight"), [inter, h], [1, 0], [1], Contract: [0]),
            new(["mlp", "wo", "kernel"], [inter, h], [inter, h], l => P(l, "mlp.down_proj.weight"), [h, inter], [1, 0], [1], Contract: [0]),
        };
        foreach (Kernel k in kernels)
        {
            if (scanned)
            {
                leaves.Add(Scanned(k, layers, dtype, divisor));
                continue;
            }
            for (long l = 0; l < layers; l++)
            {
                string[] path = ["decoder", $"layers_{l}", .. k.Path];
                var part = new ViewPart(k.Tensor(l), k.Split, Box.Full(k.Split), k.Perm, Box.Full(k.Record));
                if (int8 && k.Contract is int[] contract)
                {
                    // The kernel's module keeps an empty dict; the arrays go under params/aqt, beside its path's module.
                    object[] frozen = ["params", "aqt", .. path[..^1], Aqt, "qrhs", "frozen"];
                    float pre = k.ScaleQuery ? divisor : 1f;
                    var values = new MaxTextLeaf([.. frozen, "qvalue"], k.Shape, DType.I8, k.Record,
                        TensorOp.QuantizeValues(contract, dtype, QuantizeRule.AqtReciprocal, pre), [part], k.SplitOrder, null);
                    leaves.Add(values);
                    leaves.Add(new MaxTextLeaf([.. frozen, "scale", 0], k.Shape, dtype, k.Record,
                        TensorOp.QuantizeScales(contract, dtype, QuantizeRule.AqtReciprocal, pre), [part], k.SplitOrder, null) { ValuesFolder = values.FolderName });
                    continue;
                }
                leaves.Add(new MaxTextLeaf(["params", "params", .. path], k.Shape, dtype, k.Record, Op(k, divisor), [part], k.SplitOrder, null));
            }
        }
        return leaves;
    }

    /// <summary>
    /// MaxText's converter divides the query by <c>np.sqrt(head_dim)</c> cast to bf16: the square root of an integer
    /// rounded once, from double, to bf16's 8 significant bits (to nearest even), exact in a float.
    /// </summary>
    internal static float QueryDivisor(long headDim)
    {
        double x = Math.Sqrt(headDim);
        double ulp = Math.Pow(2, Math.Floor(Math.Log2(x)) - 7);
        return (float)(Math.Round(x / ulp, MidpointRounding.ToEven) * ulp);
    }

    private static TensorOp Op(Kernel k, float divisor) => k.ScaleQuery ? TensorOp.Divide(divisor) : TensorOp.Copy;

    /// <summary>
    /// q or k, <c>[heads * d, h]</c> in HF's half-split rows, as <c>[h, heads, d]</c>: interleaved, the last axis is
    /// refined to <c>[d/2, 2]</c> and filled from the rows seen as <c>[heads, 2, d/2, h]</c> (pair element t of
    /// rotary index i is row t * d/2 + i); half-split, a plain transpose.
    /// </summary>
    private static Kernel Rotary(string[] path, long h, long heads, long d, Func<long, string> tensor, bool interleaved) => interleaved
        ? new Kernel(path, [h, heads, d], [h, heads, d / 2, 2], tensor, [heads, 2, d / 2, h], [3, 0, 2, 1], [1])
        : new Kernel(path, [h, heads, d], [h, heads, d], tensor, [heads, d, h], [2, 0, 1], [1]);

    /// <summary>A per-layer kernel stacked on axis 1: each layer's tensor, seen with a size-1 axis in front, fills index l of that axis.</summary>
    private static MaxTextLeaf Scanned(Kernel k, long layers, DType dtype, float divisor)
    {
        long[] shape = [k.Shape[0], layers, .. k.Shape[1..]];
        long[] record = [k.Record[0], layers, .. k.Record[1..]];
        long[] split = [1, .. k.Split];
        int[] perm = [k.Perm[0] + 1, 0, .. k.Perm[1..].Select(a => a + 1)];
        var parts = new List<ViewPart>();
        for (long l = 0; l < layers; l++)
        {
            long[] start = new long[record.Length], length = (long[])record.Clone();
            start[1] = l;
            length[1] = 1;
            parts.Add(new ViewPart(k.Tensor(l), split, Box.Full(split), perm, new Box(start, length)));
        }
        int[] order = [.. k.SplitOrder.Select(a => a == 0 ? 0 : a + 1)];
        return new MaxTextLeaf(["params", "params", "decoder", "layers", .. k.Path], shape, dtype, record, Op(k, divisor), parts, order, 1);
    }

    private static MaxTextLeaf Whole(string[] path, long[] shape, string tensor, int[] perm, int[] splitOrder, DType dtype)
    {
        // Record axis i is split axis perm[i]: the split shape has shape[i] at position perm[i].
        var split = new long[perm.Length];
        for (int i = 0; i < perm.Length; i++) split[perm[i]] = shape[i];
        var part = new ViewPart(tensor, split, Box.Full(split), perm, Box.Full(shape));
        return new MaxTextLeaf(["params", "params", .. path], shape, dtype, shape, TensorOp.Copy, [part], splitOrder, null);
    }
}
