using Ckptmpi.Conversion.Demo;
using Ckptmpi.Formats.NxD;

namespace Ckptmpi.Tests.Conversion.Formats.Nxd;

/// <summary>
/// Bad input through the real program: each is refused with exit 3 and a message naming the file and the reason (and,
/// for options that do not fit the model, what would), and nothing that looks like a complete checkpoint is left.
/// </summary>
public sealed class NxdBadInputTests
{
    private string _dir = null!;
    private string _hf = null!;

    [SetUp]
    public void SetUp()
    {
        _dir = TestPaths.NewTempDir();
        _hf = Path.Combine(_dir, "hf");
        new DemoModel { HiddenSize = 64, IntermediateSize = 96, Layers = 4, Heads = 8, KvHeads = 2, VocabSize = 128 }.Write(_hf);
    }

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    private static readonly string[] Tp4Kv2 = ["--hw-backend", "trn1", "--tp-size", "4", "--pp-size", "2", "--qkv-linear", "--kv-size-multiplier", "2"];

    private string ToNxdt(string output, params string[] options)
    {
        var r = TestPaths.RunCkptmpi(["convert", "--from", "hf", "--to", "nxdt", "--input", _hf, "--output", output, "--no-report", .. options]);
        Assert.That(r.ExitCode, Is.EqualTo(0), r.Stderr);
        return output;
    }

    private static string Refused(IEnumerable<string> args, string output)
    {
        var r = TestPaths.RunCkptmpi(args);
        Assert.That(r.ExitCode, Is.EqualTo(3), r.Stdout + r.Stderr);
        Assert.That(File.Exists(Path.Combine(output, "ckptmpi-manifest.json")), Is.False, "no manifest: nothing looks complete");
        Assert.That(File.Exists(Path.Combine(output, "model.safetensors.index.json")), Is.False);
        return r.Stderr + r.Stdout;
    }

    private string Back(string nxdt, string output, params string[] options) =>
        Refused(["convert", "--from", "nxdt", "--to", "hf", "--input", nxdt, "--output", output, "--no-report", .. options], output);

    [Test]
    public void A_missing_tp_pp_shard_is_named()
    {
        string nxdt = ToNxdt(Path.Combine(_dir, "nxdt"), Tp4Kv2);
        File.Delete(Path.Combine(nxdt, NxdPaths.RankFile(3, 1)));
        string message = Back(nxdt, Path.Combine(_dir, "back"), Tp4Kv2);
        Assert.That(message, Does.Contain("dp_rank_00_tp_rank_03_pp_rank_01.pt").And.Contain("missing"));
    }

    [Test]
    public void A_kv_replica_that_differs_is_named_with_its_tensor()
    {
        string nxdt = ToNxdt(Path.Combine(_dir, "nxdt"), Tp4Kv2);
        // tp rank 2 holds the second replica of KV head 0 (ranks 0 and 2 both hold it on trn1 with m = 2).
        string rank2 = Path.Combine(nxdt, NxdPaths.RankFile(2, 0));
        var stored = NxdTestSupport.RankTensors(rank2).Single(t => t.Key == "model.layers.1.self_attn.qkv_proj.weight_v");
        byte[] bytes = File.ReadAllBytes(rank2);
        int at = bytes.AsSpan().IndexOf(stored.Bytes) + 10;
        bytes[at] ^= 0x40;
        File.WriteAllBytes(rank2, bytes);
        string message = Back(nxdt, Path.Combine(_dir, "back"), Tp4Kv2);
        Assert.That(message, Does.Contain("dp_rank_00_tp_rank_02_pp_rank_00.pt").And.Contain("model.layers.1.self_attn.v_proj.weight").And.Contain("differs"));
    }

    [Test]
    public void Tp_not_dividing_the_heads_says_what_would()
    {
        string output = Path.Combine(_dir, "nxdt");
        string message = Refused(["convert", "--from", "hf", "--to", "nxdt", "--input", _hf, "--output", output, "--hw-backend", "trn1", "--tp-size", "3", "--qkv-linear"], output);
        Assert.That(message, Does.Contain("config.json").And.Contain("--tp-size must divide the 8 query heads (try 1, 2, 4, 8)"));
        message = Refused(["convert", "--from", "hf", "--to", "nxdt", "--input", _hf, "--output", output, "--hw-backend", "trn2", "--tp-size", "8", "--qkv-linear"], output);
        Assert.That(message, Does.Contain("config.json").And.Contain("use --kv-size-multiplier 4"));
    }

    [Test]
    public void N_layers_contradicting_config_json_names_it()
    {
        string output = Path.Combine(_dir, "nxdt");
        string message = Refused(["convert", "--from", "hf", "--to", "nxdt", "--input", _hf, "--output", output, "--hw-backend", "trn1", "--tp-size", "2", "--n-layers", "32"], output);
        Assert.That(message, Does.Contain(Path.Combine(_hf, "config.json")).And.Contain("--n-layers 32 contradicts config.json's num_hidden_layers 4"));
    }

    [Test]
    public void Reading_with_other_attention_options_than_written_names_the_key()
    {
        string nxdt = ToNxdt(Path.Combine(_dir, "nxdt"), Tp4Kv2);
        string message = Back(nxdt, Path.Combine(_dir, "back"), "--hw-backend", "trn1", "--kv-size-multiplier", "2", "--qkv-linear", "--fuse-qkv");
        Assert.That(message, Does.Contain("dp_rank_00_tp_rank_00_pp_rank_00.pt").And.Contain("qkv_proj.weight_qkv"));
    }
}
