using System.Text.Json.Nodes;
using Ckptmpi.Conversion.Verify;
using Ckptmpi.Formats.Safetensors;
using Ckptmpi.Formats.Torch;
using Ckptmpi.Formats.Torch.Pickle;

namespace Ckptmpi.Tests.Formats.MegaDs;

/// <summary>
/// Damaged copies of a real Megatron-DeepSpeed checkpoint through the real program: a clear message naming the file,
/// exit code 3 (malformed input), and no output that looks complete.
/// </summary>
public sealed class MegaDsBadInputTests
{
    private string _dir = null!;

    [SetUp]
    public void SetUp() => _dir = TestPaths.NewTempDir();

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    private string CopyStep0()
    {
        string save = Path.Combine(_dir, "save");
        MegaDsToHfTests.CopyDir(Path.Combine(MegaDsFixtures.Repo, "tp2_pp2_dp2", "step0"), save);
        return save;
    }

    private (ProcessResult Result, string Output) Run(string input, params string[] extra)
    {
        string output = Path.Combine(_dir, "out");
        var r = TestPaths.RunCkptmpi(["convert", "--from", "megads", "--to", "hf", "--input", input, "--output", output, "--no-report", .. extra]);
        return (r, output);
    }

    private static void AssertRefused(ProcessResult r, string output, params string[] mentions)
    {
        Assert.That(r.ExitCode, Is.EqualTo(3), r.Stderr);
        foreach (string m in mentions) Assert.That(r.Stderr, Does.Contain(m));
        Assert.That(File.Exists(Path.Combine(output, "ckptmpi-manifest.json")), Is.False, "nothing that looks complete");
        Assert.That(File.Exists(Path.Combine(output, "model.safetensors")), Is.False);
    }

    [TestCase("")]
    [TestCase("module")]
    public void A_missing_layer_file_is_named(string weightsFrom)
    {
        string save = CopyStep0();
        File.Delete(Path.Combine(save, "global_step0", "layer_03-model_01-model_states.pt"));
        var (r, output) = Run(save, weightsFrom == "" ? [] : ["--weights-from", weightsFrom]);
        AssertRefused(r, output, "layer_03-model_01-model_states.pt", "layer file is missing");
    }

    [Test]
    public void Layer_files_of_more_tensor_ranks_than_args_say_are_refused()
    {
        string save = CopyStep0();
        string dir = Path.Combine(save, "global_step0");
        foreach (string f in Directory.GetFiles(dir, "layer_*-model_01-model_states.pt"))
            File.Copy(f, f.Replace("-model_01-", "-model_02-", StringComparison.Ordinal));
        var (r, output) = Run(save);
        AssertRefused(r, output, "-model_02-model_states.pt", "tensor rank 2", "tensor_model_parallel_size is 2");
    }

    [Test]
    public void A_model_parallel_rank_missing_for_the_args_topology_is_named()
    {
        string save = CopyStep0();
        File.Delete(Path.Combine(save, "global_step0", "mp_rank_03_model_states.pt"));
        var (r, output) = Run(save);
        AssertRefused(r, output, "mp_rank_03_model_states.pt", "tp 2 x pp 2 = 4");
    }

    [TestCase("", "mp_rank_00_model_states.pt")]
    [TestCase("module", "layer_02-model_00-model_states.pt")]
    public void Shapes_that_contradict_the_config_are_named(string weightsFrom, string file)
    {
        string save = CopyStep0();
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(MegaDsFixtures.HfDir(MegaDsFixtures.Repo), "config.json")))!.AsObject();
        config["intermediate_size"] = 64;
        string configPath = Path.Combine(_dir, "config.json");
        File.WriteAllText(configPath, config.ToJsonString());
        var (r, output) = Run(save, ["--config", configPath, .. weightsFrom == "" ? Array.Empty<string>() : ["--weights-from", weightsFrom]]);
        AssertRefused(r, output, file, "mlp.dense_h_to_4h.weight", "[64, 32]", "[48, 32]");
    }

    [Test]
    public void Trained_values_in_the_padded_vocabulary_rows_are_warned_about_and_dropped()
    {
        string save = CopyStep0();
        // Tensor rank 1 holds rows 128..255; rows 250.. (local 122..) are padding. Make one padded value differ.
        string layer = Path.Combine(save, "global_step0", "layer_01-model_01-model_states.pt");
        TorchArchive a = TorchArchive.Open(layer);
        PyTensor t = (PyTensor)((PyDict)a.Root).Get("word_embeddings.weight")!;
        long at = a.RangeOf(t).Start + (123 * 32 + 5) * 2;
        using (var fs = new FileStream(layer, FileMode.Open, FileAccess.ReadWrite))
        {
            fs.Position = at;
            fs.Write([0x80, 0x3f]); // bf16 1.0
        }
        var (r, output) = Run(save, "--weights-from", "module");
        Assert.That(r.ExitCode, Is.EqualTo(0), r.Stderr);
        Assert.That(r.Stdout + r.Stderr, Does.Contain("model.embed_tokens.weight").And.Contain("6 padded vocabulary rows"));
        Assert.That(r.Stdout + r.Stderr, Does.Not.Contain("lm_head.weight of"), "the untouched LM head's padding is one repeated vector: no warning");
        Assert.That(CatalogComparer.Compare(SafetensorsCheckpoint.Open(MegaDsFixtures.HfDir(MegaDsFixtures.Repo)), SafetensorsCheckpoint.Open(output)), Is.Empty, "the padded rows are dropped");
    }

    [Test]
    public void A_model_state_file_with_a_global_the_real_ones_lack_is_refused()
    {
        MegaDsFixtures.RequireTorch();
        string save = CopyStep0();
        string ms = Path.Combine(save, "global_step0", "mp_rank_01_model_states.pt");
        // Re-save the real file with one extra object of a class Megatron's files never pickle.
        TestPaths.RunPython("""
            import collections, enum, sys, types
            import torch
            for m in ['megatron', 'megatron.core', 'megatron.core.enums']:
                sys.modules[m] = types.ModuleType(m)
            class ModelType(enum.Enum):
                encoder_or_decoder = 1
                encoder_and_decoder = 2
            ModelType.__module__ = 'megatron.core.enums'
            sys.modules['megatron.core.enums'].ModelType = ModelType
            d = torch.load(sys.argv[1], map_location='cpu')
            d['extra'] = collections.Counter(a=1)
            torch.save(d, sys.argv[1])
            """, ms);
        var (r, output) = Run(save);
        AssertRefused(r, output, "mp_rank_01_model_states.pt", "collections.Counter");
    }
}
