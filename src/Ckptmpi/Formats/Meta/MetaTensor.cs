namespace Ckptmpi.Formats.Meta;

/// <summary>How Meta's model-parallel code cuts a tensor across the <c>consolidated.NN.pth</c> shards.</summary>
public enum MetaSplit
{
    /// <summary>Every shard holds the whole tensor (norms).</summary>
    Replicated,

    /// <summary>ColumnParallelLinear: rows (dim 0) split.</summary>
    Rows,

    /// <summary>RowParallelLinear: columns (dim 1) split.</summary>
    Columns,

    /// <summary>wq: rows split by head, rows inside a head in Meta's interleaved rotary order.</summary>
    Query,

    /// <summary>wk: as <see cref="Query"/>, over the KV heads, which may be stored more than once.</summary>
    Key,

    /// <summary>wv: rows split by KV head, no rotary order, heads possibly stored more than once.</summary>
    Value,

    /// <summary>tok_embeddings: dim 1 in Llama 2, dim 0 in Llama 3 (<see cref="MetaModel.EmbeddingSplitDim"/>).</summary>
    Embedding,
}

/// <summary>One tensor of Meta's state dict: its name there, its HF canonical name, its full HF shape and its split.</summary>
public sealed record MetaTensor(string MetaName, string HfName, long[] Shape, MetaSplit Split)
{
    /// <summary>Every tensor of the model in Meta's module order (the order its files list them).</summary>
    public static IReadOnlyList<MetaTensor> All(MetaModel m)
    {
        long h = m.Dim, q = m.Heads * m.HeadDim, kv = m.DeclaredKvHeads * m.HeadDim;
        long kvTrue = m.KvHeads * m.HeadDim;
        var list = new List<MetaTensor> { new("tok_embeddings.weight", "model.embed_tokens.weight", [m.Vocab, h], MetaSplit.Embedding) };
        for (long i = 0; i < m.Layers; i++)
        {
            string meta = $"layers.{i}.", hf = $"model.layers.{i}.";
            list.Add(new(meta + "attention.wq.weight", hf + "self_attn.q_proj.weight", [q, h], MetaSplit.Query));
            list.Add(new(meta + "attention.wk.weight", hf + "self_attn.k_proj.weight", [kvTrue, h], MetaSplit.Key));
            list.Add(new(meta + "attention.wv.weight", hf + "self_attn.v_proj.weight", [kvTrue, h], MetaSplit.Value));
            list.Add(new(meta + "attention.wo.weight", hf + "self_attn.o_proj.weight", [h, q], MetaSplit.Columns));
            list.Add(new(meta + "feed_forward.w1.weight", hf + "mlp.gate_proj.weight", [m.FfnDim, h], MetaSplit.Rows));
            list.Add(new(meta + "feed_forward.w2.weight", hf + "mlp.down_proj.weight", [h, m.FfnDim], MetaSplit.Columns));
            list.Add(new(meta + "feed_forward.w3.weight", hf + "mlp.up_proj.weight", [m.FfnDim, h], MetaSplit.Rows));
            list.Add(new(meta + "attention_norm.weight", hf + "input_layernorm.weight", [h], MetaSplit.Replicated));
            list.Add(new(meta + "ffn_norm.weight", hf + "post_attention_layernorm.weight", [h], MetaSplit.Replicated));
        }
        list.Add(new("norm.weight", "model.norm.weight", [h], MetaSplit.Replicated));
        list.Add(new("output.weight", "lm_head.weight", [m.Vocab, h], MetaSplit.Rows));
        return list;
    }

    /// <summary>Keys Meta's files may hold that are not parameters (Llama 1/2's precomputed rotary frequencies).</summary>
    public static bool IsIgnored(string metaName) => metaName == "rope.freqs";
}
