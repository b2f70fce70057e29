using System.Text.Json;
using Ckptmpi.Formats.Torch;
using Ckptmpi.Formats.Torch.Pickle;
using Ckptmpi.Tensors;

namespace Ckptmpi.Tests.Formats.Torch;

/// <summary>Files we write are loaded by real torch (Debian python3-torch 1.13) and compared value by value.</summary>
public sealed class TorchArchiveWriterTests
{
    // Loads the file with torch, checks every tensor named in `expect` against torch.arange-derived values,
    // checks CRCs with zipfile.testzip, and prints a JSON summary of the object graph.
    private const string CheckScript = """
import sys, json, zipfile, collections, torch
path, expect = sys.argv[1], json.loads(sys.argv[2])
bad = zipfile.ZipFile(path).testzip()
assert bad is None, f"CRC mismatch in {bad}"
obj = torch.load(path, map_location="cpu")
def walk(o):
    if isinstance(o, torch.Tensor):
        return {"tensor": str(o.dtype), "shape": list(o.shape), "rg": o.requires_grad, "param": isinstance(o, torch.nn.Parameter), "ptr": o.storage().data_ptr() if o.storage().size() else None}
    if isinstance(o, collections.OrderedDict):
        d = {"ordered": [[walk(k), walk(v)] for k, v in o.items()]}
        if hasattr(o, "_metadata"): d["_metadata"] = walk(o._metadata)
        return d
    if isinstance(o, (torch.Size, torch.device, torch.dtype)): return {"repr": repr(o)}
    if isinstance(o, dict): return {"dict": [[walk(k), walk(v)] for k, v in o.items()]}
    if isinstance(o, list): return {"list": [walk(x) for x in o]}
    if isinstance(o, tuple): return {"tuple": [walk(x) for x in o]}
    if isinstance(o, (set, frozenset)): return {"set": sorted(walk(x) for x in o)}
    if isinstance(o, bytes): return {"bytes": o.hex()}
    if isinstance(o, float): return {"float": o}
    return o
def get(o, path):
    for p in path: o = o[p]
    return o
for name, (path_, expr) in expect.items():
    t = get(obj, path_)
    i = torch.arange(t.numel(), dtype=torch.float64)
    want = eval(expr).to(t.dtype).reshape(t.shape)
    assert torch.equal(t.detach(), want), f"{name}: {t} != {want}"
print(json.dumps(walk(obj), separators=(",", ":")))
""";

    private static JsonElement LoadWithTorch(string file, Dictionary<string, (object[] Path, string Expr)> expect)
    {
        string json = JsonSerializer.Serialize(expect.ToDictionary(kv => kv.Key, kv => new object[] { kv.Value.Path, kv.Value.Expr }));
        string stdout = TestPaths.RunPython(CheckScript, file, json);
        return JsonDocument.Parse(stdout.Trim().Split('\n')[^1]).RootElement;
    }

    [Test]
    public void Tensors_of_every_dtype_and_shape_load_in_torch_with_the_values_we_wrote()
    {
        var root = new PyDict(isOrdered: true);
        var expect = new Dictionary<string, (object[], string)>();
        int key = 0;
        foreach (DType t in Enum.GetValues<DType>())
        {
            foreach (long[] shape in new[] { new long[] { 3, 5 }, [], [0], [2, 0, 3], [1, 1, 1, 1, 7], [70000] })
            {
                string name = $"{t}_{string.Join("x", shape)}";
                root.Add(name, TorchTestData.Contiguous((key++).ToString(), t, shape));
                expect[name] = (new object[] { name }, TorchTestData.PythonExpression(t));
            }
        }
        string file = Path.Combine(TestPaths.NewTempDir(), "dtypes.pt");
        TorchArchiveWriter.Write(file, root, s => TorchTestData.StorageBytes(s));

        JsonElement loaded = LoadWithTorch(file, expect);
        Assert.That(loaded.GetProperty("ordered").GetArrayLength(), Is.EqualTo(root.Items.Count));
        Assert.That(loaded.GetProperty("ordered")[0][1].GetProperty("tensor").GetString(), Is.EqualTo("torch.float64"));
    }

    [Test]
    public void Containers_shared_storages_views_and_python_objects_load_in_torch_as_the_same_graph()
    {
        var shared = new TorchStorage("0", DType.F32, 12);
        var whole = new PyTensor(shared, 0, [3, 4], [4, 1]);
        var view = new PyTensor(shared, 4, [4], [1]); // row 1 of the same storage
        var transposed = new PyTensor(shared, 0, [4, 3], [1, 4]);
        var metadata = new PyDict(isOrdered: true);
        metadata.Add("", new PyDict { Items = { new(new PyString("version"), new PyInt(1)) } });
        var module = new PyDict(isOrdered: true) { State = new PyDict { Items = { new(new PyString("_metadata"), metadata) } } };
        module.Add("w", whole);
        var big = new PyList(Enumerable.Range(0, 2500).Select(i => (PyValue)new PyInt(i * 1000L)).ToList());
        var root = new PyDict();
        root.Add("module", module);
        root.Add("view", view);
        root.Add("transposed", transposed);
        root.Add("same_object_twice", new PyList([whole, whole]));
        root.Add("tuple", new PyTuple(new PyInt(-5), new PyFloat(2.5), PyNone.Instance, PyBool.True, new PyString("é✓"), new PyInt(1L << 40), new PyInt(new System.Numerics.BigInteger(-1) << 70)));
        root.Add("list", big);
        root.Add("bytes", new PyBytes([0, 1, 255]));
        root.Add("empty_bytes", new PyBytes([]));
        root.Add("size", TorchGlobals.MakeSize(2, 3));
        root.Add("device", TorchGlobals.MakeDevice("cpu"));
        root.Add("set", TorchGlobals.MakeSet([new PyString("a")]));
        root.Add("dtype", TorchGlobals.DTypeGlobal(DType.BF16));
        var param = TorchTestData.Contiguous("1", DType.BF16, 2, 2) with { IsParameter = true, RequiresGrad = true };
        root.Add("param", param);
        root.Add("grad", TorchTestData.Contiguous("2", DType.F32, 5) with { RequiresGrad = true });
        var od1001 = new PyDict(isOrdered: true);
        for (int i = 0; i < 1001; i++) od1001.Add($"k{i}", new PyInt(i));
        root.Add("od1001", od1001);

        string file = Path.Combine(TestPaths.NewTempDir(), "graph.pt");
        TorchArchiveWriter.Write(file, root, s => TorchTestData.StorageBytes(s));
        JsonElement r = LoadWithTorch(file, new()
        {
            ["w"] = (["module", "w"], "(((i % 200) - 100) * 0.5)"),
            ["view"] = (["view"], "(((i + 4) % 200 - 100) * 0.5)"),
            ["transposed"] = (["transposed"], "(((i % 3) * 4 + (i // 3) - 100) * 0.5)"),
            ["param"] = (["param"], TorchTestData.PythonExpression(DType.BF16)),
        });
        string text = r.ToString();
        Assert.That(text, Does.Contain("\"_metadata\":{\"ordered\":[[\"\",{\"dict\":[[\"version\",1]]}]]}"));
        Assert.That(text, Does.Contain("[-5,{\"float\":2.5},null,true,\"\\u00e9\\u2713\",1099511627776,-1180591620717411303424]"));
        Assert.That(text, Does.Contain("\"bytes\":\"0001ff\"").And.Contain("\"bytes\":\"\""));
        Assert.That(text, Does.Contain("torch.Size([2, 3])").And.Contain("device(type='cpu')").And.Contain("torch.bfloat16").And.Contain("{\"set\":[\"a\"]}"));
        Assert.That(text, Does.Contain("\"param\":true").And.Contain("\"rg\":true"));
        var dict = r.GetProperty("dict").EnumerateArray().ToDictionary(kv => kv[0].GetString()!, kv => kv[1]);
        Assert.That(dict["list"].GetProperty("list").GetArrayLength(), Is.EqualTo(2500));
        Assert.That(dict["od1001"].GetProperty("ordered").GetArrayLength(), Is.EqualTo(1001));
        var twice = dict["same_object_twice"].GetProperty("list");
        Assert.That(twice[0].GetProperty("ptr").GetInt64(), Is.EqualTo(dict["view"].GetProperty("ptr").GetInt64()), "views share one storage in torch");
    }
}
