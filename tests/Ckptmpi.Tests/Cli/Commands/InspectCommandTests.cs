using System.Text.Json;

namespace Ckptmpi.Tests.Cli.Commands;

public sealed class InspectCommandTests
{
    private static string Hf(string name) => Path.Combine(TestPaths.Fixtures, "hf", name);

    [Test]
    public void Json_lists_every_tensor_as_an_independent_python_reader_of_the_headers_sees_it()
    {
        string dir = Hf("tiny-pad-fp32-sharded");
        ProcessResult r = TestPaths.RunCkptmpi(["inspect", dir, "--json"]);
        Assert.That(r.ExitCode, Is.EqualTo(0), r.ToString());
        using JsonDocument doc = JsonDocument.Parse(r.Stdout);
        var ours = doc.RootElement.GetProperty("tensors").EnumerateArray()
            .Select(t => $"{t.GetProperty("name").GetString()} {t.GetProperty("dtype").GetString()} {string.Join(",", t.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()))} {t.GetProperty("bytes").GetInt64()} {t.GetProperty("file").GetString()}")
            .Order(StringComparer.Ordinal).ToList();
        string python = TestPaths.RunPython("""
            import sys, os, json, struct
            d = sys.argv[1]
            rows = []
            for f in sorted(os.listdir(d)):
                if not f.endswith('.safetensors'): continue
                b = open(os.path.join(d, f), 'rb').read()
                n, = struct.unpack('<Q', b[:8])
                for k, v in json.loads(b[8:8 + n]).items():
                    if k == '__metadata__': continue
                    s, e = v['data_offsets']
                    rows.append(f"{k} {v['dtype']} {','.join(map(str, v['shape']))} {e - s} {f}")
            print('\n'.join(rows))
            """, dir);
        Assert.That(ours, Is.EqualTo(python.Trim().Split('\n').Order(StringComparer.Ordinal).ToList()));
        Assert.That(doc.RootElement.GetProperty("total_bytes").GetInt64(), Is.EqualTo(433_940));
    }

    [Test]
    public void Text_output_has_a_summary_line_and_one_row_per_tensor()
    {
        ProcessResult r = TestPaths.RunCkptmpi(["inspect", Path.Combine(Hf("tiny-pad-bf16"), "model.safetensors")]);
        Assert.That(r.ExitCode, Is.EqualTo(0), r.ToString());
        string[] lines = r.Stdout.TrimEnd().Split('\n');
        Assert.That(lines[0], Does.Contain("1 file, 21 tensors, 216,970 bytes of tensor data"));
        Assert.That(lines[1], Does.StartWith("NAME"));
        Assert.That(lines.Skip(2).Count(l => l.Contains(" BF16 ") && l.EndsWith("model.safetensors")), Is.EqualTo(21));
        Assert.That(lines[^1], Does.StartWith("dtypes: BF16 21 tensors"));
        Assert.That(lines.Single(l => l.StartsWith("lm_head.weight ")), Does.Contain("[256, 65]").And.Contain("33,280").And.EndWith("model.safetensors"));
    }

    [Test]
    public void A_malformed_file_exits_with_the_bad_input_code_and_names_the_file()
    {
        string dir = TestPaths.NewTempDir();
        string file = Path.Combine(dir, "broken.safetensors");
        File.WriteAllBytes(file, [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F, (byte)'{']);
        ProcessResult r = TestPaths.RunCkptmpi(["inspect", file]);
        Assert.That(r.ExitCode, Is.EqualTo(3), r.ToString());
        Assert.That(r.Stderr, Does.Contain("broken.safetensors").And.Contain("header length"));
    }

    [Test]
    public void A_deepspeed_directory_is_followed_through_latest_and_its_objects_printed_as_a_tree()
    {
        ProcessResult r = TestPaths.RunCkptmpi(["inspect", Path.Combine(TestPaths.Fixtures, "deepspeed", "z2_w2_bf16")]);
        Assert.That(r.ExitCode, Is.EqualTo(0), r.ToString());
        Assert.That(r.Stdout, Does.Contain("== global_step1/mp_rank_00_model_states.pt: torch.save v3"));
        Assert.That(r.Stdout, Does.Contain("== global_step1/bf16_zero_pp_rank_1_mp_rank_00_optim_states.pt"));
        Assert.That(r.Stdout, Does.Contain("zero_stage: deepspeed.runtime.zero.config.ZeroStageEnum(2)"));
        Assert.That(r.Stdout, Does.Contain("ds_version: '0.14.4'"));
        Assert.That(r.Stdout, Does.Contain("eps: 1e-08"));
        Assert.That(r.Stdout, Does.Match(@"model\.embed_tokens\.weight: tensor BF16 \[256, 65\] 33,280 bytes"));
    }

    [Test]
    public void Json_for_a_torch_file_lists_the_tensors_torch_load_finds()
    {
        string file = Path.Combine(TestPaths.Fixtures, "deepspeed", "refs", "init_fp32.pt");
        ProcessResult r = TestPaths.RunCkptmpi(["inspect", file, "--json"]);
        Assert.That(r.ExitCode, Is.EqualTo(0), r.ToString());
        using JsonDocument doc = JsonDocument.Parse(r.Stdout);
        var ours = doc.RootElement.GetProperty("files")[0].GetProperty("tensors").EnumerateArray()
            .Select(t => $"{t.GetProperty("name").GetString()} {string.Join(",", t.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()))}").ToList();
        string python = TestPaths.RunPython("""
            import sys, torch
            for k, v in torch.load(sys.argv[1]).items(): print(k, ','.join(map(str, v.shape)))
            """, file);
        Assert.That(ours, Is.EqualTo(python.Trim().Split('\n').ToList()));
    }

    [Test]
    public void Several_paths_give_a_json_array_with_one_object_each()
    {
        ProcessResult r = TestPaths.RunCkptmpi(["inspect", Hf("tiny-pad-bf16"), Path.Combine(TestPaths.Fixtures, "deepspeed", "z3_w2_fp16"), "--json"]);
        Assert.That(r.ExitCode, Is.EqualTo(0), r.ToString());
        using JsonDocument doc = JsonDocument.Parse(r.Stdout);
        Assert.That(doc.RootElement.EnumerateArray().Select(e => e.GetProperty("format").GetString()), Is.EqualTo(new[] { "safetensors", "torch" }));
    }
}
