using System.Text.Json;

namespace Ckptmpi.Tests.Formats.MaxText;

/// <summary>
/// The real program converts the HF models of tests/fixtures/maxtext/hf to MaxText, and every array is compared with
/// the parameter tree MaxText's own converter produced from the same weights (check_maxtext.py): bf16 bit patterns,
/// int8 values and scales exactly, the zarr files assembled from their raw chunks, <c>_METADATA</c> with exactly the
/// tree's arrays. Some cases use tiny chunk files, so arrays span many chunks.
/// </summary>
public sealed class MaxTextFixtureTests
{
    private static string Fixtures => Path.Combine(TestPaths.Fixtures, "maxtext");

    internal static string Checker => Path.Combine(TestPaths.RepoRoot, "tests", "Ckptmpi.Tests", "Formats", "MaxText", "check_maxtext.py");

    private string _dir = null!;

    [SetUp]
    public void SetUp() => _dir = TestPaths.NewTempDir();

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    [TestCase("l3", "llama3.1-8b", "true", null, "l3_llama3.1-8b_scanned.npz", 12)]
    [TestCase("l3", "llama3.1-8b", "false", "1KiB", "l3_llama3.1-8b_unscanned.npz", 30)]
    [TestCase("l3", "llama3-8b", "true", "1KiB", "l3_llama3-8b_scanned.npz", 12)]
    [TestCase("l3", "llama3-8b", "false", null, "l3_llama3-8b_unscanned.npz", 30)]
    [TestCase("l2", "llama2-7b", "true", "2KiB", "l2_llama2-7b_scanned.npz", 12)]
    [TestCase("l2", "llama2-7b", "false", null, "l2_llama2-7b_unscanned.npz", 21)]
    public void Every_array_equals_what_MaxTexts_converter_produced(string model, string maxtextModel, string scan, string? chunk, string reference, int arrays)
    {
        string output = Convert(model, ["--maxtext-model", maxtextModel, "--scan-layers", scan, .. Chunk(chunk)]);
        JsonElement result = Check(output, reference);
        Assert.That(result.GetProperty("arrays").GetInt32(), Is.EqualTo(arrays));
        Assert.That(result.GetProperty("metadata_entries").GetInt32(), Is.EqualTo(arrays));
        if (chunk is not null)
        {
            int files = Directory.GetDirectories(output).Sum(d => Directory.GetFiles(d).Length - 1);
            Assert.That(files, Is.GreaterThan(arrays * 2), "tiny chunks cut arrays into several files");
        }
    }

    [TestCase(null), TestCase("1KiB")]
    public void Int8_values_and_scales_equal_AQTs_bf16_arithmetic_exactly(string? chunk)
    {
        string output = Convert("l3", ["--maxtext-model", "llama3.1-8b", "--quantize", "int8", .. Chunk(chunk)]);
        JsonElement result = Check(output, "l3_llama3.1-8b_unscanned_int8.npz");
        // 21 kernels (7 per layer) as values + scales, and the 9 arrays that stay bf16.
        Assert.That(result.GetProperty("arrays").GetInt32(), Is.EqualTo(51));
        // The fp32-intermediate variant differs from the reference in thousands of elements: the match above is a real choice.
        Assert.That(result.GetProperty("qvalue_elements_differing_from_f32_arithmetic").GetInt32(), Is.GreaterThan(1000));
    }

    [Test]
    public void Int8_arrays_read_back_with_python3_zarr()
    {
        if (TestPaths.RunProcess(TestPaths.Python, ["-c", "import zarr"]).ExitCode != 0)
            Assert.Ignore("python3-zarr is not installed (tests/install-deps.sh installs it)");
        string output = Convert("l3", ["--maxtext-model", "llama3.1-8b", "--quantize", "int8", "--maxtext-chunk-size", "1KiB"]);
        JsonElement result = Check(output, "l3_llama3.1-8b_unscanned_int8.npz");
        // zarr 2 has no bfloat16: the 21 int8 value arrays are the ones it reads (the bf16 ones are checked from raw chunks).
        Assert.That(result.GetProperty("read_by_zarr").GetInt32(), Is.EqualTo(21));
    }

    [Test]
    public void The_checker_says_no_to_a_wrong_value_and_to_a_missing_array()
    {
        string output = Convert("l2", ["--maxtext-model", "llama2-7b"]);
        // Same weights, other rotary order: q and k differ.
        Assert.That(() => Check(output, "l3_llama3.1-8b_scanned.npz"), Throws.InvalidOperationException);
        string query = Path.Combine(output, "params.params.decoder.layers.self_attention.query.kernel", "0.0.0.0");
        byte[] bytes = File.ReadAllBytes(query);
        bytes[10] ^= 1;
        File.WriteAllBytes(query, bytes);
        Assert.That(() => Check(output, "l2_llama2-7b_scanned.npz"), Throws.InvalidOperationException.With.Message.Contains("differ"));
        bytes[10] ^= 1;
        File.WriteAllBytes(query, bytes);
        Check(output, "l2_llama2-7b_scanned.npz");
        Directory.Delete(Path.Combine(output, "params.params.decoder.decoder_norm.scale"), recursive: true);
        Assert.That(() => Check(output, "l2_llama2-7b_scanned.npz"), Throws.InvalidOperationException.With.Message.Contains("missing"));
    }

    [Test]
    public void Without_maxtext_model_the_rotary_order_comes_from_config_json_and_is_printed()
    {
        string output = Path.Combine(_dir, "out");
        var r = TestPaths.RunCkptmpi(["convert", "--from", "hf", "--to", "maxtext", "--input", Path.Combine(Fixtures, "hf", "l3"), "--output", output]);
        Assert.That(r.ExitCode, Is.EqualTo(0), r.Stderr);
        Assert.That(r.Stderr + r.Stdout, Does.Contain("'llama3.1'").And.Contain("rope_scaling"));
        Check(output, "l3_llama3.1-8b_scanned.npz");
    }

    [TestCase(new[] { "--quantize", "int8", "--scan-layers", "true" }, "--scan-layers false")]
    [TestCase(new[] { "--maxtext-model", "gemma-7b" }, "Llama and Mistral")]
    [TestCase(new[] { "--maxtext-model", "Llama3" }, "model_size")]
    [TestCase(new[] { "--quantize", "int4" }, "int8")]
    public void Bad_options_are_refused_before_anything_is_written(string[] options, string message)
    {
        string output = Path.Combine(_dir, "out");
        var r = TestPaths.RunCkptmpi(["convert", "--from", "hf", "--to", "maxtext", "--input", Path.Combine(Fixtures, "hf", "l3"), "--output", output, .. options]);
        Assert.That(r.ExitCode, Is.Not.EqualTo(0));
        Assert.That(r.Stderr + r.Stdout, Does.Contain(message));
        Assert.That(Directory.Exists(output), Is.False);
    }

    private static string[] Chunk(string? chunk) => chunk is null ? [] : ["--maxtext-chunk-size", chunk];

    private string Convert(string model, string[] options)
    {
        string output = Path.Combine(_dir, "out-" + Guid.NewGuid().ToString("N")[..8]);
        var r = TestPaths.RunCkptmpi(["convert", "--from", "hf", "--to", "maxtext", "--input", Path.Combine(Fixtures, "hf", model), "--output", output, .. options]);
        Assert.That(r.ExitCode, Is.EqualTo(0), r.Stderr);
        return output;
    }

    internal static JsonElement Check(string output, string reference)
    {
        string stdout = TestPaths.RunPython(File.ReadAllText(Checker), output, Path.Combine(Fixtures, reference));
        return JsonDocument.Parse(stdout.Trim().Split('\n')[^1]).RootElement.Clone();
    }
}
