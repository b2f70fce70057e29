using System.Text.Json;
using Ckptmpi.Formats.DeepSpeed;

namespace Ckptmpi.Tests.Formats.DeepSpeed;

/// <summary>FlatGroupPartitioning (ZeRO-1/2) and Zero3Partitioning against the doc's worked examples and the real fixtures.</summary>
public sealed class PartitioningTests
{
    private static long[] TinyNumels => DeepSpeedFixtures.TinyPadParams.Select(p => p.Shape.Aggregate(1L, (a, b) => a * b)).ToArray();

    [Test]
    public void Worked_example_of_the_doc_dp3()
    {
        var p = FlatGroupPartitioning.For([40, 16, 4, 4, 16, 5], 3);
        Assert.That((p.OriginalNumel, p.AlignedNumel, p.PartitionSize), Is.EqualTo((85L, 90L, 30L)));
        Assert.That(p.Fragments(0), Is.EqualTo(new[] { new PartitionFragment(0, 0, 0, 30) }));
        Assert.That(p.Fragments(1), Is.EqualTo(new[] { new PartitionFragment(0, 30, 0, 10), new PartitionFragment(1, 0, 10, 16), new PartitionFragment(2, 0, 26, 4) }));
        Assert.That(p.Fragments(2), Is.EqualTo(new[] { new PartitionFragment(3, 0, 0, 4), new PartitionFragment(4, 0, 4, 16), new PartitionFragment(5, 0, 20, 5) }));
        Assert.That(new[] { p.Padding(0), p.Padding(1), p.Padding(2) }, Is.EqualTo(new long[] { 0, 0, 5 }));
        Assert.That(p.ValidElements(2), Is.EqualTo(25));
        Assert.That(new[] { p.Bf16OptimizerPadding(0), p.Bf16OptimizerPadding(2) }, Is.EqualTo(new long[] { 0, 5 }));
    }

    [Test]
    public void Padding_can_span_several_trailing_ranks_of_a_tiny_group()
    {
        var p = FlatGroupPartitioning.For([3], 4); // align 8: ps 2
        Assert.That(Enumerable.Range(0, 4).Select(p.Padding), Is.EqualTo(new long[] { 0, 1, 2, 2 }));
        Assert.That(p.Fragments(3), Is.Empty);
        Assert.That(p.Bf16OptimizerPadding(3), Is.EqualTo(5), "BF16_Optimizer reports the whole padding on the last rank, even beyond ps");
    }

    [Test]
    public void Zero3_pads_each_param_to_a_multiple_of_dp()
    {
        var p = Zero3Partitioning.For([65, 16], 4);
        Assert.That((p.PartitionNumel(0), p.PartitionNumel(1), p.TotalPadding), Is.EqualTo((17L, 4L, 3L)));
        Assert.That(p.ValidRange(0, 3), Is.EqualTo((51L, 14L)));
        Assert.That(p.OffsetInSubGroup(1), Is.EqualTo(17));
        Assert.That(p.SubGroup(0), Is.EqualTo((0, 2, 21L)));
        var tiny = Zero3Partitioning.For([2], 4);
        Assert.That(tiny.ValidRange(0, 3), Is.EqualTo((2L, 0L)), "a param smaller than dp leaves whole trailing ranks as padding");
    }

    [Test]
    public void Zero3_sub_groups_close_when_the_running_partition_sum_reaches_the_size()
    {
        // pn = 10, 10, 10, 10, 5 with dp 1; size 15 -> [10,10] reaches 20 >= 15; [10,10]; [5] (last param)
        var p = Zero3Partitioning.For([10, 10, 10, 10, 5], 1, subGroupSize: 15);
        Assert.That(Enumerable.Range(0, p.SubGroupCount).Select(p.SubGroup), Is.EqualTo(new[] { (0, 2, 20L), (2, 2, 20L), (4, 1, 5L) }));
        Assert.That(p.OffsetInSubGroup(3), Is.EqualTo(10));
        var whole = Zero3Partitioning.For([10, 10, 10, 10, 5], 1, subGroupSize: 45);
        Assert.That(whole.SubGroupCount, Is.EqualTo(1), "a sub_group_size at least the total keeps one sub-group");
    }

    [TestCaseSource(typeof(DeepSpeedFixtures), nameof(DeepSpeedFixtures.All))]
    public void Padding_column_of_the_manifest_is_what_our_math_gives(DeepSpeedFixtures.Fixture f)
    {
        long padding = f.Stage == 3
            ? Zero3Partitioning.For(TinyNumels, f.World).TotalPadding
            : FlatGroupPartitioning.For(TinyNumels, f.World).TotalPadding;
        Assert.That(padding, Is.EqualTo(f.Padding));
    }

    [Test]
    public void Partition_sizes_paddings_and_slice_mappings_equal_every_fixture_optimizer_file()
    {
        const string script = """
            import os, sys
            out = {}
            for name, tag, world, bf16 in json.loads(sys.argv[1]):
                ranks = []
                for r in range(world):
                    p = os.path.join(sys.argv[2], name, tag, ('bf16_' if bf16 else '') + f'zero_pp_rank_{r}_mp_rank_00_optim_states.pt')
                    o = torch.load(p, map_location='cpu')['optimizer_state_dict']
                    if 'fp32_flat_groups' in o:
                        ranks.append({'flat': [t.numel() for t in o['fp32_flat_groups']], 'pc': o['partition_count']})
                    else:
                        t = o['single_partition_of_fp32_groups'][0]
                        ranks.append({'numel': t.numel(), 'storage': t.storage().size(), 'pad': o['group_paddings'], 'pc': o['partition_count'],
                                      'map': [[k, v.numel, v.start] for k, v in o['param_slice_mappings'][0].items()]})
                out[name] = ranks
            print(json.dumps(out))
            """;
        string arg = JsonSerializer.Serialize(DeepSpeedFixtures.All.Select(f => new object[] { f.Name, f.Tag, f.World, f.Bf16 }));
        JsonElement all = DeepSpeedFixtures.PythonJson(script, arg, DeepSpeedFixtures.Root);
        string[] names = DeepSpeedFixtures.TinyPadParams.Select(p => p.Name).ToArray();
        foreach (DeepSpeedFixtures.Fixture f in DeepSpeedFixtures.All)
        {
            JsonElement ranks = all.GetProperty(f.Name);
            for (int r = 0; r < f.World; r++)
            {
                JsonElement e = ranks[r];
                if (f.Stage == 3)
                {
                    var z3 = Zero3Partitioning.For(TinyNumels, f.World);
                    Assert.That(e.GetProperty("flat")[0].GetInt64(), Is.EqualTo(z3.SubGroup(0).Numel), $"{f.Name} rank {r}");
                    Assert.That(e.GetProperty("pc").GetInt32(), Is.EqualTo(f.World));
                    continue;
                }
                var p = FlatGroupPartitioning.For(TinyNumels, f.World);
                Assert.That(e.GetProperty("storage").GetInt64(), Is.EqualTo(p.PartitionSize), $"{f.Name} rank {r}");
                Assert.That(e.GetProperty("numel").GetInt64(), Is.EqualTo(p.ValidElements(r)), $"{f.Name} rank {r}");
                Assert.That(e.GetProperty("pad")[0].GetInt64(), Is.EqualTo(p.Padding(r)), $"{f.Name} rank {r}");
                Assert.That(e.GetProperty("pc")[0].GetInt32(), Is.EqualTo(f.World));
                var expected = p.Fragments(r).Select(x => $"{names[x.ParamIndex]}:{x.Count}@{x.PartitionOffset}");
                var actual = e.GetProperty("map").EnumerateArray().Select(m => $"{m[0].GetString()}:{m[1].GetInt64()}@{m[2].GetInt64()}");
                Assert.That(actual, Is.EqualTo(expected), $"{f.Name} rank {r}");
            }
        }
    }
}
