using Ckptmpi.Formats.DeepSpeed;
using Ckptmpi.Conversion;
using Ckptmpi.Conversion.Demo;
using Ckptmpi.Conversion.Execution;
using Ckptmpi.Conversion.Manifests;
using Ckptmpi.Conversion.Verify;
using Ckptmpi.Errors;
using Ckptmpi.Formats.Safetensors;
using Ckptmpi.Parallel;
using Ckptmpi.Tensors;

namespace Ckptmpi.Tests.Conversion;

public sealed class ConversionJobTests
{
    private string _dir = null!;
    private string _model = null!;

    [SetUp]
    public void SetUp()
    {
        _dir = TestPaths.NewTempDir();
        _model = Path.Combine(_dir, "model");
        new DemoModel { HiddenSize = 64, IntermediateSize = 172, Layers = 2, VocabSize = 500, Heads = 4, KvHeads = 2, MaxShardBytes = 200_000 }.Write(_model);
    }

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    private ConvertRequest Request(string output, IoMode io = IoMode.Direct) => new()
    {
        From = "hf", To = "hf", Input = _model, Output = output, DType = DType.F32, FormatOptions = [new HfOptions { MaxShardSize = 150_000 }], MaxBuffer = 64 << 10, Io = io,
    };

    [Test]
    public void Output_is_byte_identical_for_1_2_and_4_ranks_and_both_io_modes()
    {
        var manifests = new List<Manifest>();
        foreach (var (ranks, io) in new[] { (1, IoMode.Direct), (2, IoMode.Direct), (4, IoMode.Direct), (3, IoMode.Aggregate), (4, IoMode.Aggregate) })
        {
            string output = Path.Combine(_dir, $"out-{ranks}-{io}");
            ThreadCommunicator.Run(ranks, comm => ConversionJob.Run(comm, Request(output, io)), TimeSpan.FromSeconds(60));
            manifests.Add(Manifest.Read(output));
        }
        var reference = manifests[0].Outputs.Select(o => (o.Path, o.Size, o.Checksum)).ToList();
        Assert.That(reference, Has.Count.GreaterThan(3), "several shards, an index and config.json");
        foreach (Manifest m in manifests.Skip(1))
            Assert.That(m.Outputs.Select(o => (o.Path, o.Size, o.Checksum)), Is.EqualTo(reference));
    }

    [Test]
    public void The_dry_run_plans_exactly_what_the_real_run_executes_and_writes_nothing()
    {
        string output = Path.Combine(_dir, "out");
        ConversionJob.Outcome[] dry = ThreadCommunicator.Run(2, comm => ConversionJob.Run(comm, Request(output) with { DryRun = true }), TimeSpan.FromSeconds(60));
        Assert.That(Directory.Exists(output), Is.False);
        ThreadCommunicator.Run(2, comm => ConversionJob.Run(comm, Request(output)), TimeSpan.FromSeconds(60));
        Manifest manifest = Manifest.Read(output);
        Assert.That(manifest.Plan.Hash, Is.EqualTo(dry[0].Plan.Hash));
        Assert.That(System.Text.Json.JsonSerializer.Serialize(manifest.Plan, Manifest.Json), Is.EqualTo(System.Text.Json.JsonSerializer.Serialize(dry[0].Plan, Manifest.Json)));
        Assert.That(dry[0].Plan.PerRank.SelectMany(r => r.Writes), Has.Some.EqualTo("model.safetensors.index.json (last)"));
    }

    [Test]
    public void Every_output_file_matches_its_manifest_checksum_and_the_values_are_the_source_cast_to_fp32()
    {
        string output = Path.Combine(_dir, "out");
        ThreadCommunicator.Run(3, comm => ConversionJob.Run(comm, Request(output)), TimeSpan.FromSeconds(60));
        Manifest manifest = Manifest.Read(output);
        Assert.That(manifest.ChecksumAlgorithm, Is.EqualTo("crc32"));
        foreach (OutputChecksum o in manifest.Outputs)
            Assert.That(Ckptmpi.Tensors.Checksums.Crc32.Hash(File.ReadAllBytes(Path.Combine(output, o.Path))).ToString("x8"), Is.EqualTo(o.Checksum), o.Path);
        Assert.That(manifest.Inputs.Select(i => Path.GetFileName(i.Path)), Does.Contain("config.json"));
        var mismatches = CatalogComparer.Compare(SafetensorsCheckpoint.Open(_model), SafetensorsCheckpoint.Open(output), _ => DType.F32);
        Assert.That(mismatches, Is.Empty);
    }

    [Test]
    public void A_missing_shard_fails_every_rank_with_the_same_message_and_writes_nothing()
    {
        string shard = Directory.GetFiles(_model, "model-00002-*.safetensors").Single();
        File.Delete(shard);
        string output = Path.Combine(_dir, "out");
        string[] messages = ThreadCommunicator.Run(3, comm =>
        {
            try { ConversionJob.Run(comm, Request(output)); return "no error"; }
            catch (RankFailedException e) { return e.Message; }
        }, TimeSpan.FromSeconds(60));
        Assert.That(messages.Distinct().Count(), Is.EqualTo(1), string.Join("\n", messages));
        Assert.That(messages[0], Does.Contain("model-00002"));
        Assert.That(Directory.Exists(output), Is.False);
    }
}

/// <summary>HF -> ZeRO -> HF through the whole job (metadata broadcast, plan, execution, commit) on thread ranks.</summary>
public sealed class ZeroConversionJobTests
{
    private static string HfBf16 => Path.Combine(TestPaths.Fixtures, "hf", "tiny-pad-bf16");

    [TestCase(1), TestCase(2), TestCase(3)]
    public void HF_to_ZeRO_is_byte_identical_for_1_2_and_4_ranks_and_both_io_modes_and_round_trips_bit_exact(int stage)
    {
        string dir = TestPaths.NewTempDir();
        try
        {
            var runs = new List<Manifest>();
            foreach (var (ranks, io) in new[] { (1, IoMode.Direct), (2, IoMode.Direct), (4, IoMode.Direct), (2, IoMode.Aggregate), (4, IoMode.Aggregate) })
            {
                string output = Path.Combine(dir, $"z{stage}-{ranks}-{io}");
                var request = new ConvertRequest { From = "hf", To = "zero", Input = HfBf16, Output = output, FormatOptions = [TrainingSettingsForTests.Zero(stage, 3)], MaxBuffer = 64 << 10, Io = io };
                ThreadCommunicator.Run(ranks, comm => ConversionJob.Run(comm, request), TimeSpan.FromSeconds(60));
                runs.Add(Manifest.Read(output));
            }
            var reference = runs[0].Outputs.Select(o => (o.Path, o.Size, o.Checksum)).ToList();
            Assert.That(reference.Select(r => r.Path), Does.Contain("latest"));
            foreach (Manifest m in runs.Skip(1)) Assert.That(m.Outputs.Select(o => (o.Path, o.Size, o.Checksum)), Is.EqualTo(reference));

            string back = Path.Combine(dir, "back");
            var reverse = new ConvertRequest { From = "zero", To = "hf", Input = Path.Combine(dir, $"z{stage}-1-Direct"), Output = back, DType = DType.BF16, MaxBuffer = 64 << 10 };
            ThreadCommunicator.Run(3, comm => ConversionJob.Run(comm, reverse), TimeSpan.FromSeconds(60));
            Assert.That(CatalogComparer.Compare(SafetensorsCheckpoint.Open(HfBf16), SafetensorsCheckpoint.Open(back)), Is.Empty);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Test]
    public void Overwrite_replaces_a_larger_checkpoint_without_leaving_its_extra_rank_files_behind()
    {
        string dir = TestPaths.NewTempDir();
        try
        {
            string output = Path.Combine(dir, "z");
            ConvertRequest Make(int dp) => new() { From = "hf", To = "zero", Input = HfBf16, Output = output, FormatOptions = [TrainingSettingsForTests.Zero(2, dp)], Overwrite = true };
            ThreadCommunicator.Run(2, comm => ConversionJob.Run(comm, Make(4)), TimeSpan.FromSeconds(60));
            Assert.That(Directory.GetFiles(Path.Combine(output, "global_step0")), Has.Length.EqualTo(5));
            ThreadCommunicator.Run(2, comm => ConversionJob.Run(comm, Make(2)), TimeSpan.FromSeconds(60));
            var files = Directory.GetFiles(output, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(output, f)).Order().ToList();
            Assert.That(files, Is.EquivalentTo(Manifest.Read(output).Outputs.Select(o => o.Path).Concat([Manifest.FileName, Ckptmpi.Conversion.Report.ReportFiles.HtmlName, Ckptmpi.Conversion.Report.ReportFiles.JsonName])));
            Assert.That(files.Count(f => f.Contains("optim_states")), Is.EqualTo(2));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Test]
    public void A_ZeRO_3_checkpoint_written_by_four_ranks_loads_in_torch_with_the_tensors_DeepSpeed_wrote()
    {
        string dir = TestPaths.NewTempDir();
        try
        {
            string output = Path.Combine(dir, "z3");
            string fixtureRoot = Path.Combine(TestPaths.Fixtures, "deepspeed", "z3_w2_bf16_step0");
            var request = new ConvertRequest
            {
                From = "hf", To = "zero", Input = HfBf16, Output = output, MaxBuffer = 64 << 10,
                FormatOptions = [new ZeroOptions { DpSize = 2, DsConfig = Path.Combine(fixtureRoot, "ds_config.json") }],
            };
            ThreadCommunicator.Run(4, comm => ConversionJob.Run(comm, request), TimeSpan.FromSeconds(60));
            string fixture = Path.Combine(fixtureRoot, "global_step0");
            // Tensor by tensor against the real DeepSpeed checkpoint of the same weights (optimizer fp32 partitions and placeholders).
            string result = TestPaths.RunPython("""
                import sys, glob, os, types, torch
                # DeepSpeed classes pickled in optimizer files: stand-in modules so torch.load works without DeepSpeed.
                for mod in ["deepspeed", "deepspeed.runtime", "deepspeed.runtime.zero", "deepspeed.runtime.zero.config", "deepspeed.runtime.fp16", "deepspeed.runtime.fp16.loss_scaler", "deepspeed.utils", "deepspeed.utils.tensor_fragment", "deepspeed.checkpoint", "deepspeed.checkpoint.utils"]:
                    sys.modules.setdefault(mod, types.ModuleType(mod))
                import enum
                class ZeroStageEnum(enum.IntEnum):
                    disabled = 0; optimizer_states = 1; gradients = 2; weights = 3
                sys.modules["deepspeed.runtime.zero.config"].ZeroStageEnum = ZeroStageEnum
                class LossScaler:
                    def __setstate__(self, s): self.__dict__.update(s)
                sys.modules["deepspeed.runtime.fp16.loss_scaler"].LossScaler = LossScaler
                sys.modules["deepspeed.runtime.fp16.loss_scaler"].DynamicLossScaler = LossScaler
                ours, ref = sys.argv[1], sys.argv[2]
                def flat(x):
                    if isinstance(x, torch.Tensor): return [x]
                    if isinstance(x, dict): return [t for v in x.values() for t in flat(v)]
                    if isinstance(x, (list, tuple)): return [t for v in x for t in flat(v)]
                    return []
                n = pad = 0
                for f in sorted(os.listdir(ref)):
                    a = flat(torch.load(os.path.join(ours, f), map_location="cpu"))
                    b = flat(torch.load(os.path.join(ref, f), map_location="cpu"))
                    assert len(a) == len(b), (f, len(a), len(b))
                    for x, y in zip(a, b):
                        assert x.dtype == y.dtype and x.shape == y.shape, f
                        # DeepSpeed leaves ZeRO-3 partition padding uninitialised; we write zeros there. Anything else must be equal.
                        d = x != y
                        assert bool((x[d] == 0).all()), (f, d.nonzero()[:5].tolist())
                        n += 1
                        pad += int(d.sum())
                print("tensors", n, "padding elements that differ", pad)
                """, Path.Combine(output, "global_step0"), fixture);
            Assert.That(result, Does.StartWith("tensors "));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}

/// <summary>Dry runs from config.json alone: what a 96-rank job would do, planned in one process.</summary>
public sealed class DryRunTests
{
    [Test]
    public void Llama_3_8B_to_ZeRO_3_dp_96_on_96_ranks_is_planned_from_config_json_with_balance_within_5_percent()
    {
        var request = new ConvertRequest
        {
            From = "hf", To = "zero", Input = Path.Combine(TestPaths.Fixtures, "configs", "llama-3.1-8b.json"), Output = "",
            FormatOptions = [TrainingSettingsForTests.Zero(3, 96)], DryRun = true, PlanRanks = 96,
        };
        var clock = System.Diagnostics.Stopwatch.StartNew();
        ConversionJob.Outcome outcome = ThreadCommunicator.Run(1, comm => ConversionJob.Run(comm, request))[0];
        TestContext.Out.WriteLine($"planned in {outcome.PlanSeconds:0.00} s ({clock.Elapsed.TotalSeconds:0.00} s with metadata); balance {outcome.Plan.Balance}");
        Assert.That(outcome.Plan.Ranks, Is.EqualTo(96));
        Assert.That(outcome.Plan.Balance, Is.LessThanOrEqualTo(1.05));
        Assert.That(outcome.Plan.BytesWritten, Is.GreaterThan(8_000_000_000L * 4), "fp32 master partitions of 8B parameters");
        Assert.That(outcome.Plan.PerRank.Max(r => r.PeakBuffer), Is.LessThanOrEqualTo(256L << 20));
    }
}
