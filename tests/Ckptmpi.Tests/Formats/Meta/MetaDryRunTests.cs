using System.Diagnostics;
using Ckptmpi.Conversion;
using Ckptmpi.Formats.Meta;
using Ckptmpi.Parallel;

namespace Ckptmpi.Tests.Formats.Meta;

/// <summary>Llama 3.1 405B planned from its params.json / config.json alone: the seed job's shape, without the weights.</summary>
public sealed class MetaDryRunTests
{
    private const long Parameters405B = 405_853_388_800; // tests/fixtures/configs/README.md
    private const long DuplicatedKvBytes = 126L * 2 * 1024 * 16384 * 2; // mp16 stores each of the 8 KV heads twice
    private const long ReplicatedNormBytes = (126L * 2 + 1) * 16384 * 2 * 15; // every shard holds every norm

    // The bf16-mp16 download's params.json declares 16 KV heads (each stored twice).
    private const string Params405BMp16 = """
        {"dim": 16384, "ffn_dim_multiplier": 1.2, "multiple_of": 4096, "n_heads": 128, "n_kv_heads": 16, "n_layers": 126, "norm_eps": 1e-05, "rope_theta": 500000.0, "use_scaled_rope": true, "vocab_size": 128256}
        """;

    private static ConversionJob.Outcome DryRun(ConvertRequest request)
    {
        var clock = Stopwatch.StartNew();
        ConversionJob.Outcome[] o = ThreadCommunicator.Run(1, comm => ConversionJob.Run(comm, request with { DryRun = true, PlanRanks = 64 }), TimeSpan.FromSeconds(120));
        TestContext.Out.WriteLine($"{request.From} -> {request.To}: planned in {clock.Elapsed.TotalSeconds:F2} s (plan {o[0].PlanSeconds:F2} s), "
            + $"{o[0].Plan.Files} files, {o[0].Plan.BytesWritten:N0} bytes, balance {o[0].Plan.Balance}");
        return o[0];
    }

    [Test]
    public void Meta_405B_mp16_to_HF_plans_from_params_json_alone()
    {
        string dir = TestPaths.NewTempDir();
        try
        {
            File.WriteAllText(Path.Combine(dir, "params.json"), Params405BMp16);
            var o = DryRun(new ConvertRequest { From = "meta", To = "hf", Input = dir, Output = Path.Combine(dir, "out"), FormatOptions = [new MetaOptions { KvHeads = 8 }] });
            Assert.That(o.Plan.BytesWritten, Is.InRange(Parameters405B * 2, Parameters405B * 2 + (1L << 20)), "the weights once in bf16, plus headers");
            Assert.That(o.Plan.Balance, Is.LessThan(1.05));
            Assert.That(Directory.Exists(Path.Combine(dir, "out")), Is.False);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Test]
    public void HF_405B_to_Meta_mp16_plans_from_config_json_with_each_KV_head_stored_twice()
    {
        string dir = TestPaths.NewTempDir();
        try
        {
            string config = Path.Combine(TestPaths.Fixtures, "configs", "llama-3.1-405b.json");
            var o = DryRun(new ConvertRequest { From = "hf", To = "meta", Input = config, Output = Path.Combine(dir, "out"), FormatOptions = [new MetaOptions { MpSize = 16 }] });
            Assert.That(o.Plan.Files, Is.EqualTo(17), "16 shards and params.json");
            Assert.That(o.Plan.BytesWritten, Is.InRange(Parameters405B * 2 + DuplicatedKvBytes + ReplicatedNormBytes, Parameters405B * 2 + DuplicatedKvBytes + ReplicatedNormBytes + (16L << 20)), "tensors, copies, zip records");
            Assert.That(o.Plan.Balance, Is.LessThan(1.05));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
