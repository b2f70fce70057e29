using System.Text.Json;
using Ckptmpi.Errors;
using Ckptmpi.Formats.Torch;
using Ckptmpi.Formats.Torch.Pickle;
using Ckptmpi.Formats.Torch.Zip;
using Ckptmpi.Tensors;

namespace Ckptmpi.Tests.Formats.Torch;

/// <summary>Files real torch writes (made by python during the test) read back equal through our reader.</summary>
public sealed class TorchArchiveTests
{
    // Writes a torch.save file with tensors of every dtype, views, shared storages, a Parameter, a module
    // state_dict and nested containers, plus a JSON file of every tensor's values (flattened) by path.
    private const string MakeScript = """
import sys, json, collections, torch
out, values_out = sys.argv[1], sys.argv[2]
dtypes = [torch.float64, torch.float32, torch.float16, torch.bfloat16, torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8, torch.bool]
obj = collections.OrderedDict()
for d in dtypes:
    for shape in [(3, 5), (), (0,), (2, 0, 3), (1, 1, 7)]:
        n = 1
        for s in shape: n *= s
        i = torch.arange(n, dtype=torch.float64)
        obj[f"{d}_{shape}"] = (((i % 200) - 100) * 0.5).to(d).reshape(shape) if d.is_floating_point else ((i % 251) if d == torch.uint8 else (i % 3 == 0) if d == torch.bool else ((i % 127) - 63)).to(d).reshape(shape)
base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
obj["views"] = [base, base[1], base.t(), base[:, 2:4]]
obj["param"] = torch.nn.Parameter(torch.ones(2, 2, dtype=torch.bfloat16))
obj["module"] = torch.nn.Linear(3, 2).state_dict()
obj["nested"] = {"a": (1, 2.5, None, True, "x", 2**40, -2**70), "b": [list(range(1500))], "s": torch.Size([4, 5])}
torch.save(obj, out)
values = {}
def walk(o, path):
    if isinstance(o, torch.Tensor):
        values[json.dumps(path, separators=(",", ":"))] = o.detach().double().flatten().tolist()
    elif isinstance(o, dict):
        for k, v in o.items(): walk(v, path + [k])
    elif isinstance(o, (list, tuple)) and not isinstance(o, torch.Size):
        for k, v in enumerate(o): walk(v, path + [k])
walk(obj, [])
json.dump(values, open(values_out, "w"))
""";

    [Test]
    public void A_file_torch_wrote_reads_back_with_every_tensor_equal()
    {
        string dir = TestPaths.NewTempDir();
        string file = Path.Combine(dir, "made_by_torch.pt"), json = Path.Combine(dir, "values.json");
        TestPaths.RunPython(MakeScript, file, json);
        var expected = JsonSerializer.Deserialize<Dictionary<string, double[]>>(File.ReadAllText(json))!;

        using var source = new FileByteSource(file);
        TorchArchive a = TorchArchive.Open(source);
        Assert.That(a.ArchiveName, Is.EqualTo("made_by_torch"));
        int seen = 0;
        foreach (var (path, tensor) in Tensors(a.Root, []))
        {
            string key = JsonSerializer.Serialize(path);
            Assert.That(expected.ContainsKey(key), key);
            Assert.That(TensorValues.Read(source, a, tensor), Is.EqualTo(expected[key]), key);
            seen++;
        }
        Assert.That(seen, Is.EqualTo(expected.Count));

        var root = (PyDict)a.Root;
        var views = ((PyList)root.Get("views")!).Items.Cast<PyTensor>().ToList();
        Assert.That(views.Select(v => v.Storage).Distinct(), Has.Exactly(1).Items, "views share one storage instance");
        Assert.That(views[2].Stride, Is.EqualTo(new long[] { 1, 6 }));
        var param = (PyTensor)root.Get("param")!;
        Assert.That(param.IsParameter && param.RequiresGrad, Is.True);
        var module = (PyDict)root.Get("module")!;
        Assert.That(module.IsOrdered && module.State is PyDict { } st && st.Get("_metadata") is PyDict { IsOrdered: true }, Is.True);
        var nested = (PyDict)root.Get("nested")!;
        Assert.That(((PyTuple)nested.Get("a")!).Items[6], Is.EqualTo(new PyInt(-System.Numerics.BigInteger.Pow(2, 70))));
        Assert.That(nested.Get("s"), Is.EqualTo(TorchGlobals.MakeSize(4, 5)).Using<PyValue>(SameGraph));
    }

    [Test]
    public void Our_pickle_of_a_state_dict_is_byte_identical_to_the_pickle_torch_writes()
    {
        string dir = TestPaths.NewTempDir();
        string file = Path.Combine(dir, "sd.pt");
        TestPaths.RunPython("""
import sys, collections, torch
torch.manual_seed(0)
m = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.LayerNorm(2))
sd = m.state_dict()
torch.save({"module": sd, "step": 7, "names": ["a", "b"], "lr": 0.001, "big": 2**31, "neg": -3, "od": collections.OrderedDict(x=1)}, sys.argv[1])
""", file);
        TorchArchive a = TorchArchive.Open(file);
        using var source = new FileByteSource(file);
        ZipEntry pkl = a.Directory.FindRecord("data.pkl")!;
        var theirs = new byte[pkl.Length];
        source.ReadExactly(pkl.Data.Start, theirs);
        TorchArchivePlan plan = TorchArchiveLayout.Plan(a.Root, a.ArchiveName);
        Assert.That(Convert.ToHexString(plan.Pickle), Is.EqualTo(Convert.ToHexString(theirs)));
        // The first record's local header (name, FB padding to 64) is framed exactly as torch frames it.
        var theirHead = new byte[pkl.Data.Start];
        source.ReadExactly(0, theirHead);
        Assert.That(plan.Literals[0].Bytes.AsSpan(0, theirHead.Length).ToArray(), Is.EqualTo(theirHead));
    }

    [Test]
    public void Tensor_python_attributes_such_as_ds_id_survive_a_write_and_read_and_torch_still_loads_the_file()
    {
        var attrs = new PyDict();
        attrs.Add("ds_id", new PyString("0_5"));
        var t = TorchTestData.Contiguous("0", DType.F32, 4) with { RequiresGrad = true, PythonState = attrs };
        var root = new PyDict();
        root.Add("fp32_flat_groups", new PyList([t]));
        root.Add("zero_stage", TorchGlobals.MakeZeroStage(3));
        string file = Path.Combine(TestPaths.NewTempDir(), "z3.pt");
        TorchArchiveWriter.Write(file, root, s => TorchTestData.StorageBytes(s));

        var back = (PyTensor)((PyList)((PyDict)TorchArchive.Open(file).Root).Get("fp32_flat_groups")!).Items[0];
        Assert.That(back.PythonState!.Get("ds_id"), Is.EqualTo(new PyString("0_5")));
        Assert.That(back.RequiresGrad, Is.True);
        // torch 1.13 drops the attribute but must load the tensor; the enum needs a stand-in DeepSpeed module.
        string stdout = TestPaths.RunPython("""
import sys, types, enum, torch
m = types.ModuleType("deepspeed.runtime.zero.config")
class ZeroStageEnum(int, enum.Enum):
    disabled = 0; optimizer_states = 1; gradients = 2; weights = 3
m.ZeroStageEnum = ZeroStageEnum
for name in ["deepspeed", "deepspeed.runtime", "deepspeed.runtime.zero"]: sys.modules[name] = types.ModuleType(name)
sys.modules["deepspeed.runtime.zero.config"] = m
o = torch.load(sys.argv[1])
print(o["fp32_flat_groups"][0].tolist(), o["zero_stage"])
""", file);
        Assert.That(stdout.Trim(), Is.EqualTo("[-50.0, -49.5, -49.0, -48.5] ZeroStageEnum.weights"));
    }

    [Test]
    public void A_legacy_non_zip_torch_file_is_refused_with_how_to_re_save_it()
    {
        string file = Path.Combine(TestPaths.NewTempDir(), "legacy.pt");
        TestPaths.RunPython("import sys, torch; torch.save({'w': torch.ones(2)}, sys.argv[1], _use_new_zipfile_serialization=False)", file);
        Assert.That(() => TorchArchive.Open(file), Throws.TypeOf<UnsupportedCheckpointException>()
            .With.Message.Contains(file).And.Message.Contains("torch.save(torch.load(f"));
    }

    [Test]
    public void The_enum_pickled_by_name_reads_as_the_same_value_as_the_enum_pickled_by_value()
    {
        // Early CPython 3.11: getattr(ZeroStageEnum, 'gradients'); everywhere else ZeroStageEnum(2).
        byte[] byName = [0x80, 2, .. "c__builtin__\ngetattr\n"u8, .. "cdeepspeed.runtime.zero.config\nZeroStageEnum\n"u8,
            (byte)'X', 9, 0, 0, 0, .. "gradients"u8, 0x86, (byte)'R', (byte)'.'];
        var (root, _) = PickleReader.Read(byName, "enum.pkl");
        Assert.That(TorchGlobals.TryGetZeroStage(root, out int stage), Is.True);
        Assert.That(stage, Is.EqualTo(2));
        Assert.That(root, Is.EqualTo(TorchGlobals.MakeZeroStage(2)).Using<PyValue>(SameGraph));
    }

    private static bool SameGraph(PyValue x, PyValue y) =>
        Convert.ToHexString(PickleWriter.Write(x).Pickle) == Convert.ToHexString(PickleWriter.Write(y).Pickle);

    private static IEnumerable<(List<object> Path, PyTensor Tensor)> Tensors(PyValue v, List<object> path)
    {
        switch (v)
        {
            case PyTensor t: yield return (path, t); break;
            case PyDict d:
                foreach (var kv in d.Items)
                    foreach (var x in Tensors(kv.Value, [.. path, ((PyString)kv.Key).Value])) yield return x;
                break;
            case PyList l:
                for (int i = 0; i < l.Items.Count; i++)
                    foreach (var x in Tensors(l.Items[i], [.. path, i])) yield return x;
                break;
            case PyTuple tu:
                for (int i = 0; i < tu.Items.Count; i++)
                    foreach (var x in Tensors(tu.Items[i], [.. path, i])) yield return x;
                break;
        }
    }
}
