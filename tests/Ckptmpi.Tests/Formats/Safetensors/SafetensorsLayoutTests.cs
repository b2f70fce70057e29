using System.Text;
using Ckptmpi.Formats.Safetensors;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;
using static Ckptmpi.Tests.Formats.Safetensors.SafetensorsTestFiles;

namespace Ckptmpi.Tests.Formats.Safetensors;

public sealed class SafetensorsLayoutTests
{
    [Test]
    public void The_header_is_compact_json_with_format_pt_padded_with_spaces_to_8_bytes()
    {
        OutputLayout layout = SafetensorsLayout.For([("a", DType.F32, [2]), ("b", DType.BF16, [1, 3])], long.MaxValue);
        OutputFile file = layout.Files.Single();
        Assert.That(file.RelativePath, Is.EqualTo("model.safetensors"));
        byte[] header = ((LiteralSegment)file.Segments[0]).Bytes;
        const string json = """{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"BF16","shape":[1,3],"data_offsets":[8,14]}}""";
        Assert.That(json.Length, Is.EqualTo(142)); // -> 2 spaces of padding to 144
        byte[] expected = [.. new byte[] { 144, 0, 0, 0, 0, 0, 0, 0 }, .. Encoding.ASCII.GetBytes(json + "  ")];
        Assert.That(header, Is.EqualTo(expected));
        Assert.That(file.Segments.Skip(1), Is.EqualTo(new OutputSegment[]
        {
            new TensorSegment(152, "a", 0, 2, DType.F32),
            new TensorSegment(160, "b", 0, 3, DType.BF16),
        }));
        Assert.That(file.Length, Is.EqualTo(166));
    }

    [Test]
    public void A_header_that_is_already_a_multiple_of_8_gets_no_padding()
    {
        byte[] header = SafetensorsLayout.Header([("abcdefghijklm", DType.U8, [1])], null); // 96 bytes of JSON
        Assert.That((header.Length - 8) % 8, Is.EqualTo(0));
        Assert.That(header[^1], Is.EqualTo((byte)'}'), Encoding.ASCII.GetString(header[8..]));
    }

    [Test]
    public void Shards_start_when_the_next_tensor_would_exceed_the_limit_and_big_tensors_stand_alone()
    {
        (string, DType, long[])[] t =
        [
            ("t0", DType.U8, [40]), ("t1", DType.U8, [50]), ("t2", DType.U8, [20]), ("big", DType.U8, [250]), ("t3", DType.U8, [100]), ("t4", DType.U8, [1]),
        ];
        OutputLayout layout = SafetensorsLayout.For(t, maxShardBytes: 100);
        string[] TensorsOf(OutputFile f) => f.Segments.OfType<TensorSegment>().Select(s => s.Tensor).ToArray();
        // t0+t1 = 90 fit; t2 would make 110; big (250) stands alone; t3 fills 100 exactly; t4 would make 101.
        Assert.That(layout.Files.Where(f => !f.IsCommitMarker).Select(TensorsOf).ToArray(),
            Is.EqualTo(new[] { new[] { "t0", "t1" }, ["t2"], ["big"], ["t3"], ["t4"] }));
        Assert.That(layout.Files.Select(f => f.RelativePath).First(), Is.EqualTo("model-00001-of-00005.safetensors"));
        Assert.That(layout.Files.Single(f => f.IsCommitMarker).RelativePath, Is.EqualTo("model.safetensors.index.json"));
    }

    [Test]
    public void Everything_that_fits_one_shard_is_a_single_model_safetensors_without_index()
    {
        OutputLayout layout = SafetensorsLayout.For(Small, maxShardBytes: 1000);
        Assert.That(layout.Files.Select(f => f.RelativePath), Is.EqualTo(new[] { "model.safetensors" }));
        Assert.That(layout.Files.Any(f => f.IsCommitMarker), Is.False);
    }

    [Test]
    public void The_index_is_byte_identical_to_json_dumps_with_indent_2_and_sorted_keys()
    {
        string dir = TestPaths.NewTempDir();
        WriteCheckpoint(dir, Small, maxShardBytes: 300);
        string index = Path.Combine(dir, "model.safetensors.index.json");
        string python = TestPaths.RunPython("""
            import sys, json
            sys.stdout.write(json.dumps(json.load(open(sys.argv[1])), indent=2, sort_keys=True) + "\n")
            """, index);
        Assert.That(File.ReadAllText(index), Is.EqualTo(python));
        Assert.That(python, Does.Contain("\"total_size\": 536")); // 256 + 16 + 256 + 8 + 0
    }

    [Test]
    public void Bad_requests_are_caller_errors()
    {
        Assert.That(() => SafetensorsLayout.For([("a", DType.U8, [1]), ("a", DType.U8, [1])], 10), Throws.ArgumentException.With.Message.Contains("twice"));
        Assert.That(() => SafetensorsLayout.For([("__metadata__", DType.U8, [1])], 10), Throws.ArgumentException);
        Assert.That(() => SafetensorsLayout.For([("a", DType.U8, [1])], 0), Throws.InstanceOf<ArgumentOutOfRangeException>());
    }

    [Test]
    public void Files_we_write_are_read_back_by_a_pure_python_reader_into_the_values_torch_computes()
    {
        int seed = TestContext.CurrentContext.Random.Next();
        TestContext.Out.WriteLine($"seed {seed}");
        var rng = new Random(seed);
        DType[] dtypes = Enum.GetValues<DType>();
        var tensors = new List<(string Name, DType DType, long[] Shape)>();
        for (int i = 0; i < 30; i++)
        {
            long[] shape = Enumerable.Range(0, rng.Next(0, 4)).Select(_ => (long)rng.Next(0, 40)).ToArray();
            tensors.Add(($"layers.{i}.w\u00e9ight\"q", dtypes[rng.Next(dtypes.Length)], shape));
        }
        string dir = TestPaths.NewTempDir();
        WriteCheckpoint(dir, tensors, maxShardBytes: rng.Next(500, 5000), chunkBytes: 8 * rng.Next(1, 20));

        // Our own reader sees exactly what we planned...
        SourceCatalog catalog = SafetensorsCheckpoint.Open(dir);
        Assert.That(catalog.Tensors.Select(t => (t.Name, t.DType, t.Shape.ToArray())), Is.EqualTo(tensors.Select(t => (t.Name, t.DType, t.Shape))));

        // ...and an independent reader (json + struct + torch.frombuffer) finds the values torch computes.
        string output = TestPaths.RunPython($$"""
            import sys, os, json, struct, torch
            DT = {'F64': torch.float64, 'F32': torch.float32, 'F16': torch.float16, 'BF16': torch.bfloat16, 'I64': torch.int64,
                  'I32': torch.int32, 'I16': torch.int16, 'I8': torch.int8, 'U8': torch.uint8, 'BOOL': torch.bool}
            {{PythonExpected}}
            def read(path):
                b = open(path, 'rb').read()
                n, = struct.unpack('<Q', b[:8])
                assert n % 8 == 0 and b[8 + n - 1:8 + n] in (b' ', b'}'), 'padding'
                h = json.loads(b[8:8 + n])
                assert h.pop('__metadata__') == {'format': 'pt'}
                out = {}
                for k, v in h.items():
                    s, e = v['data_offsets']
                    raw = bytearray(b[8 + n + s:8 + n + e])
                    t = torch.frombuffer(raw, dtype=DT[v['dtype']]) if raw else torch.empty(0, dtype=DT[v['dtype']])
                    out[k] = (v['dtype'], t.reshape(v['shape']))
                return out
            d = sys.argv[1]
            names = json.loads(sys.argv[2])
            files = [f for f in sorted(os.listdir(d)) if f.endswith('.safetensors')]
            if len(files) > 1:
                wm = json.load(open(os.path.join(d, 'model.safetensors.index.json')))['weight_map']
                assert sorted(wm) == sorted(names) and set(wm.values()) == set(files)
            seen = {}
            for f in files: seen.update(read(os.path.join(d, f)))
            bad = 0
            for k, name in enumerate(names):
                dt, t = seen[name]
                if not torch.equal(t.flatten(), expected(k, t.numel(), dt)): bad += 1; print('mismatch', name)
            print('checked', len(names), 'bad', bad)
            """, dir, System.Text.Json.JsonSerializer.Serialize(tensors.Select(t => t.Name)));
        Assert.That(output, Does.Contain($"checked {tensors.Count} bad 0"), output);
        Directory.Delete(dir, true);
    }
}
