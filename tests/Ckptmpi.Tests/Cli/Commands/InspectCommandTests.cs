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
}
