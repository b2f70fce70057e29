using System.Text;
using Ckptmpi.Conversion.Demo;
using Ckptmpi.Errors;
using Ckptmpi.Formats.NxD;
using Ckptmpi.Model;

namespace Ckptmpi.Tests.Conversion.Formats.Nxd;

/// <summary>
/// What NxD's attention computes on each rank, checked on the layout itself rather than by a round trip (which a
/// writer and reader sharing one mistake would pass): every query head a rank holds must meet the KV head of its
/// group in the local GQA grouping (local query head j uses local KV head j div (q per rank / KV per rank)), o_proj
/// must take the columns of exactly those query heads, every query head lives on one rank, every KV head on some
/// rank. Over a grid of head counts, tp, KV replication and hardware; every combination refused is refused as a
/// checkpoint the model cannot use (exit 3), never with another error.
/// </summary>
public sealed class NxdHeadPairingTests
{
    [TestCase(32, 8), TestCase(64, 8), TestCase(8, 2), TestCase(8, 8), TestCase(16, 1)]
    public void Every_rank_pairs_its_query_heads_with_their_kv_group(int heads, int kvHeads)
    {
        const int HeadDim = 4;
        var model = new DemoModel { HiddenSize = heads * HeadDim, IntermediateSize = 64, Layers = 2, Heads = heads, KvHeads = kvHeads, VocabSize = 64 };
        ModelConfig config = ModelConfig.Parse(Encoding.UTF8.GetBytes(model.ConfigJson()), "config.json");
        int valid = 0;
        foreach (int tp in new[] { 1, 2, 4, 8, 16, 32, 64 })
        foreach (int m in new[] { 1, 2, 4, 8 })
        foreach (NxdHardware hw in new[] { NxdHardware.Trn1, NxdHardware.Trn2 })
        foreach (bool fuse in new[] { false, true })
        {
            var o = new NxdOptions { Hardware = hw, TpSize = tp, KvSizeMultiplier = m, QkvLinear = true, FuseQkv = fuse };
            NxdShardMap map;
            try
            {
                map = NxdShardMap.Build(config, o, tp, 1, hasInvFreq: false, hasLmHead: true);
            }
            catch (UnsupportedCheckpointException)
            {
                continue;
            }
            valid++;
            CheckPairing(map, heads, kvHeads, HeadDim, $"nq {heads} nkv {kvHeads} tp {tp} m {m} {hw} fuse {fuse}");
        }
        Assert.That(valid, Is.GreaterThan(3), "the grid has usable combinations");
    }

    private static void CheckPairing(NxdShardMap map, int heads, int kvHeads, int d, string what)
    {
        var qOwners = new int[heads];
        var kvSeen = new bool[kvHeads];
        foreach (NxdRankFile rank in map.Files)
        {
            var q = HeadsOf(rank, "model.layers.0.self_attn.q_proj.weight", d);
            var k = HeadsOf(rank, "model.layers.0.self_attn.k_proj.weight", d);
            var v = HeadsOf(rank, "model.layers.0.self_attn.v_proj.weight", d);
            Assert.That(v, Is.EqualTo(k), what);
            Assert.That(q.Count % k.Count, Is.EqualTo(0), what);
            int perKv = q.Count / k.Count;
            for (int j = 0; j < q.Count; j++)
            {
                Assert.That(q[j] / (heads / kvHeads), Is.EqualTo(k[j / perKv]), $"{what}: rank {rank.Tp} query head {q[j]} meets KV head {k[j / perKv]}");
                qOwners[q[j]]++;
            }
            foreach (long h in k) kvSeen[h] = true;
            NxdEntry o = rank.Entries.Single(e => e.Key == "model.layers.0.self_attn.o_proj.weight");
            var oHeads = o.Parts.SelectMany(p => Enumerable.Range((int)(p.Box.Start[1] / d), (int)(p.Box.Length[1] / d))).ToList();
            Assert.That(oHeads, Is.EqualTo(q), $"{what}: o_proj columns of rank {rank.Tp}");
        }
        Assert.That(qOwners, Is.All.EqualTo(1), $"{what}: each query head on exactly one rank");
        Assert.That(kvSeen, Is.All.True, $"{what}: every KV head somewhere");
    }

    /// <summary>The heads of <paramref name="tensor"/> a rank holds, in local order, from whichever key holds them.</summary>
    private static List<int> HeadsOf(NxdRankFile rank, string tensor, int d) =>
        rank.Entries.SelectMany(e => e.Parts).Where(p => p.Tensor == tensor)
            .SelectMany(p => Enumerable.Range((int)(p.Box.Start[0] / d), (int)(p.Box.Length[0] / d))).ToList();
}
