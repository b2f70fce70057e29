using Ckptmpi.Errors;

namespace Ckptmpi.Model;

public sealed partial record ModelConfig
{
    /// <summary>
    /// Upper bounds on a config's sizes, each one to two orders of magnitude above the largest released model (405B:
    /// hidden 16384, 126 layers, ffn 53248, vocab 128256, 128 heads). A value past them is a broken or hostile file,
    /// and refusing it here keeps every later product (element counts, byte sizes, per-layer tensor lists, plans)
    /// far from overflow and from allocations sized by untrusted numbers.
    /// </summary>
    public static class Limits
    {
        public const long HiddenSize = 1L << 20, IntermediateSize = 1L << 22, Layers = 10_000, Heads = 1L << 16,
            HeadDim = 1L << 16, VocabSize = 1L << 24, Experts = 1 << 12, Positions = 1L << 24;

        /// <summary>The most elements one tensor may have (2^48: 512 TiB of fp16).</summary>
        public const long TensorElements = 1L << 48;
    }

    private static ModelConfig WithinLimits(ModelConfig c)
    {
        Check(c, "hidden_size", c.HiddenSize, Limits.HiddenSize);
        Check(c, "intermediate_size", c.IntermediateSize, Limits.IntermediateSize);
        Check(c, "num_hidden_layers", c.NumHiddenLayers, Limits.Layers);
        Check(c, "num_attention_heads", c.NumAttentionHeads, Limits.Heads);
        Check(c, "num_key_value_heads", c.NumKeyValueHeads, Limits.Heads);
        Check(c, "head_dim", c.HeadDim, Limits.HeadDim);
        Check(c, "vocab_size", c.VocabSize, Limits.VocabSize);
        Check(c, "num_local_experts", c.NumLocalExperts, Limits.Experts);
        Check(c, "n_positions", c.MaxPositionEmbeddings, Limits.Positions);
        long attention = c.NumAttentionHeads * c.HeadDim; // both < 2^16: no overflow
        if (attention > Limits.HiddenSize * 4)
            throw new CheckpointFormatException(c.Path, null, $"num_attention_heads x head_dim is {attention}, more than ckptmpi's limit of {Limits.HiddenSize * 4}; this is not a real model's config");
        return c;
    }

    private static void Check(ModelConfig c, string key, long value, long limit)
    {
        if (value > limit)
            throw new CheckpointFormatException(c.Path, null, $"'{key}' is {value}, more than ckptmpi's limit of {limit} (far above any released model); is this the right config.json?");
    }
}
