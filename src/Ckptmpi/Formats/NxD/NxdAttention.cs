using Ckptmpi.Errors;
using Ckptmpi.Model;

namespace Ckptmpi.Formats.NxD;

/// <summary>How one rank's attention weights are keyed and grouped.</summary>
public enum NxdAttentionKeys
{
    /// <summary><c>self_attn.q_proj / k_proj / v_proj.weight</c>, dim-0 chunks.</summary>
    Separate,

    /// <summary><c>self_attn.qkv_proj.weight_q / weight_k / weight_v</c> (GQAQKVColumnParallelLinear).</summary>
    QkvLinear,

    /// <summary><c>self_attn.qkv_proj.weight_qkv</c> = <c>[q_t; k_t; v_t]</c>.</summary>
    QkvLinearFused,

    /// <summary><c>self_attn.qkv_proj.weight</c> = <c>[q_t; k_t; v_t]</c> (non-GQA).</summary>
    Coalesced,

    /// <summary>Megatron <c>self_attention.query_key_value.weight</c> = <c>[q_t; k_t; v_t]</c> (non-GQA).</summary>
    MegatronQueryKeyValue,

    /// <summary>Megatron <c>self_attention.query.weight</c> and <c>key_value.weight</c> = <c>[k_t; v_t]</c>.</summary>
    MegatronQueryAndKeyValue,
}

/// <summary>
/// Which query and KV heads each tensor-parallel rank holds, checked against the model: every combination NxDT's model
/// code cannot run (a head cut between ranks, a KV replica without its query heads) is refused with what would work.
/// KV heads are replicated <c>m</c> times (<c>--kv-size-multiplier</c>) into <c>nkv*m</c> slots; rank t holds slots
/// <c>[t*h, (t+1)*h)</c>, <c>h = nkv*m/TP</c>. trn1 (and every layout without replication) tiles the replicas
/// (slot s holds KV head <c>s mod nkv</c>) and gives each rank the query heads of its KV group; trn2 blocks them (slot s
/// holds KV head <c>s div m</c>), matching NxD's trn2 KV groups, with contiguous query blocks.
/// </summary>
public sealed class NxdAttention
{
    private NxdAttention(NxdAttentionKeys keys, long tp, long heads, long kvHeads, long multiplier, long headDim, bool blockedReplicas)
    {
        Keys = keys;
        Tp = tp;
        Heads = heads;
        KvHeads = kvHeads;
        Multiplier = multiplier;
        HeadDim = headDim;
        BlockedReplicas = blockedReplicas;
    }

    public NxdAttentionKeys Keys { get; }

    public long Tp { get; }

    public long Heads { get; }

    public long KvHeads { get; }

    public long Multiplier { get; }

    public long HeadDim { get; }

    /// <summary>trn2: slot s holds KV head <c>s div m</c>; otherwise <c>s mod nkv</c>.</summary>
    public bool BlockedReplicas { get; }

    /// <summary>KV slots per rank.</summary>
    public long KvPerRank => KvHeads * Multiplier / Tp;

    public long QPerRank => Heads / Tp;

    /// <summary>The KV head in slot <paramref name="slot"/>.</summary>
    public long KvHeadOfSlot(long slot) => BlockedReplicas ? slot / Multiplier : slot % KvHeads;

    /// <summary>Runs of KV heads rank <paramref name="t"/> holds, in order: (first head, count), consecutive heads merged.</summary>
    public IReadOnlyList<(long First, long Count)> KvRuns(long t) =>
        Merge(Enumerable.Range(0, (int)KvPerRank).Select(j => KvHeadOfSlot(t * KvPerRank + j)));

    /// <summary>Runs of query heads rank <paramref name="t"/> holds, in order; o_proj's columns follow the same runs.</summary>
    public IReadOnlyList<(long First, long Count)> QRuns(long t)
    {
        if (BlockedReplicas || Multiplier == 1) return [(t * QPerRank, QPerRank)];
        // Tiled replicas (trn1): one slot per rank (checked), slot t is replica i = t div nkv of KV head g = t mod nkv,
        // which serves the i-th share of group g's query heads.
        long g = t % KvHeads, i = t / KvHeads, perGroup = Heads / KvHeads;
        return [(g * perGroup + i * QPerRank, QPerRank)];
    }

    private static List<(long, long)> Merge(IEnumerable<long> heads)
    {
        var runs = new List<(long First, long Count)>();
        foreach (long h in heads)
        {
            if (runs.Count > 0 && runs[^1].First + runs[^1].Count == h) runs[^1] = (runs[^1].First, runs[^1].Count + 1);
            else runs.Add((h, 1));
        }
        return runs;
    }

    /// <summary>The attention layout for <paramref name="o"/> and the model, or an error saying which options would work.</summary>
    /// <exception cref="UnsupportedCheckpointException">a combination no NxDT model can load (names config.json).</exception>
    public static NxdAttention For(ModelConfig config, NxdOptions o, int tp)
    {
        string cfg = config.Path;
        long nq = config.NumAttentionHeads, nkv = config.NumKeyValueHeads, m = o.KvSizeMultiplier;
        bool gqa = nkv != nq;
        string model = $"{nq} query heads, {nkv} KV heads";
        void Refuse(string why) => throw new UnsupportedCheckpointException(cfg, $"{model}, --tp-size {tp}, --kv-size-multiplier {m}: {why}");

        if (nq % tp != 0) Refuse($"--tp-size must divide the {nq} query heads (try {Divisors(nq)})");
        if (m < 1) Refuse("--kv-size-multiplier must be at least 1");
        NxdAttentionKeys keys;
        if (o.ModelStyle == NxdModelStyle.Megatron)
        {
            if (o.FuseQkv) Refuse("--fuse-qkv has no megatron-style form (NxDT's converter ignores it there); drop it, or use --model-style hf --qkv-linear --fuse-qkv");
            if (m != 1) Refuse("megatron style has no KV replication (NxDT's converter crashes); use --kv-size-multiplier 1, or --model-style hf --qkv-linear with replication");
            if (gqa && !o.QkvLinear) Refuse("a GQA model in megatron style needs --qkv-linear (query + key_value); without it the converter writes a query_key_value no model can split");
            keys = o.QkvLinear ? NxdAttentionKeys.MegatronQueryAndKeyValue : NxdAttentionKeys.MegatronQueryKeyValue;
        }
        else if (o.CoalesceQkv)
        {
            if (gqa) Refuse("--coalesce-qkv is for models with as many KV heads as query heads; for GQA use --qkv-linear (optionally --fuse-qkv)");
            if (o.QkvLinear || o.FuseQkv) Refuse("--coalesce-qkv cannot be combined with --qkv-linear or --fuse-qkv; choose one attention layout");
            if (m != 1) Refuse("--kv-size-multiplier needs --qkv-linear");
            keys = NxdAttentionKeys.Coalesced;
        }
        else if (o.QkvLinear)
        {
            keys = o.FuseQkv ? NxdAttentionKeys.QkvLinearFused : NxdAttentionKeys.QkvLinear;
        }
        else
        {
            if (o.FuseQkv) Refuse("--fuse-qkv needs --qkv-linear (NxDT's converter silently ignores it otherwise); for a non-GQA model without --qkv-linear use --coalesce-qkv");
            if (m != 1) Refuse("--kv-size-multiplier needs --qkv-linear (the separate q_proj/k_proj/v_proj layout has no KV replication)");
            keys = NxdAttentionKeys.Separate;
        }

        if (nkv * m % tp != 0)
        {
            string hint = tp > nkv && tp % nkv == 0
                ? (keys is NxdAttentionKeys.QkvLinear or NxdAttentionKeys.QkvLinearFused
                    ? $"use --kv-size-multiplier {tp / nkv} so each rank holds one whole KV head"
                    : $"use --model-style hf --qkv-linear --kv-size-multiplier {tp / nkv} so each rank holds one whole KV head")
                : $"use a --tp-size that divides {nkv * m} (try {Divisors(nkv * m)})";
            Refuse($"the {nkv * m} KV head slots cannot be split over {tp} ranks without cutting a head; {hint}");
        }
        if (m > 1 && nkv * m != tp)
            Refuse($"KV replication exists to give each rank one KV head: with --tp-size {tp} use --kv-size-multiplier {(tp % nkv == 0 && tp >= nkv ? tp / nkv : 1)} (NxDT's converter drops query heads otherwise)");
        if (nq % (nkv * m) != 0)
            Refuse($"each of the {nkv * m} KV head replicas must serve a whole number of the {nq} query heads");
        bool blocked = o.ModelStyle == NxdModelStyle.Hf && o.Hardware == NxdHardware.Trn2 && keys is NxdAttentionKeys.QkvLinear or NxdAttentionKeys.QkvLinearFused;
        return new NxdAttention(keys, tp, nq, nkv, m, config.HeadDim, blocked);
    }

    private static string Divisors(long n) => string.Join(", ", Enumerable.Range(1, (int)Math.Min(n, 1024)).Where(d => n % d == 0));
}
