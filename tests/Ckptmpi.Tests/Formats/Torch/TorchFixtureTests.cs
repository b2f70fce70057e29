using Ckptmpi.Formats.Torch;
using Ckptmpi.Formats.Torch.Pickle;
using Ckptmpi.Tensors;

namespace Ckptmpi.Tests.Formats.Torch;

/// <summary>
/// Every .pt file DeepSpeed 0.14.4 wrote under tests/fixtures/deepspeed parses completely, and the tensors hold
/// the reference values of MANIFEST.md (read through our reader on both sides: refs/*.pt are torch.save files too).
/// </summary>
public sealed class TorchFixtureTests
{
    private static string DeepSpeed => Path.Combine(TestPaths.Fixtures, "deepspeed");

    public static IEnumerable<string> FixtureFiles() =>
        Directory.EnumerateFiles(DeepSpeed, "*.pt", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(DeepSpeed, f))
            .OrderBy(f => f, StringComparer.Ordinal);

    [TestCaseSource(nameof(FixtureFiles))]
    public void Every_fixture_file_opens_and_all_its_storages_are_mapped(string relative)
    {
        TorchArchive a = TorchArchive.Open(Path.Combine(DeepSpeed, relative));
        Assert.That(a.Version, Is.EqualTo(3));
        Assert.That(a.StorageRanges.Keys, Is.EquivalentTo(a.Storages.Keys));
        Assert.That(a.ArchiveName, Is.EqualTo(Path.GetFileNameWithoutExtension(relative)));
        Assert.That(a.Root, Is.InstanceOf<PyDict>().Or.InstanceOf<PyTensor>());
    }

    // Folder -> reference file (MANIFEST.md table); the 16-bit module weights equal fp32.to(dtype), round to nearest even.
    private static readonly (string Folder, string Reference, DType ModuleDType)[] NonZero3 =
    [
        ("z1_w2_bf16_step0", "refs/init_fp32.pt", DType.BF16),
        ("z2_w2_bf16_step0", "refs/init_fp32.pt", DType.BF16),
        ("z1_w1_bf16", "refs/step1_bf16_1e5a055f_4d7d7e79.pt", DType.BF16),
        ("z1_w2_bf16", "refs/step1_bf16_1e5a055f_4d7d7e79.pt", DType.BF16),
        ("z1_w4_bf16", "refs/step1_bf16_52a9e151_ef5d1572.pt", DType.BF16),
        ("z2_w1_bf16", "refs/step1_bf16_1e5a055f_4d7d7e79.pt", DType.BF16),
        ("z2_w2_bf16", "refs/step1_bf16_1e5a055f_4d7d7e79.pt", DType.BF16),
        ("z2_w4_bf16", "refs/step1_bf16_52a9e151_ef5d1572.pt", DType.BF16),
        ("z1_w1_fp32", "refs/step1_fp32_147e1ec3_b7fd44f8.pt", DType.F32),
        ("z1_w2_fp32", "refs/step1_fp32_147e1ec3_b7fd44f8.pt", DType.F32),
        ("z1_w4_fp32", "refs/step1_fp32_147e1ec3_b7fd44f8.pt", DType.F32),
        ("z2_w1_fp32", "refs/step1_fp32_147e1ec3_b7fd44f8.pt", DType.F32),
        ("z2_w2_fp32", "refs/step1_fp32_147e1ec3_b7fd44f8.pt", DType.F32),
        ("z2_w4_fp32", "refs/step1_fp32_147e1ec3_b7fd44f8.pt", DType.F32),
        ("z1_w2_fp16", "refs/step1_fp16_0b6fabff_43945246.pt", DType.F16),
        ("z2_w2_fp16", "refs/step1_fp16_0b6fabff_43945246.pt", DType.F16),
    ];

    public static IEnumerable<TestCaseData> ModuleCases() => NonZero3.Select(c => new TestCaseData(c.Folder, c.Reference, c.ModuleDType).SetArgDisplayNames(c.Folder));

    [TestCaseSource(nameof(ModuleCases))]
    public void Module_weights_in_a_zero_1_2_model_state_equal_the_reference_cast_to_the_model_dtype(string folder, string reference, DType dtype)
    {
        Dictionary<string, double[]> want = ReadReference(reference);
        string file = Directory.GetFiles(Path.Combine(DeepSpeed, folder), "mp_rank_00_model_states.pt", SearchOption.AllDirectories).Single();
        using var source = new FileByteSource(file);
        TorchArchive a = TorchArchive.Open(source);
        var module = (PyDict)((PyDict)a.Root).Get("module")!;
        Assert.That(module.IsOrdered, Is.True);
        Assert.That(module.State, Is.InstanceOf<PyDict>(), "state_dict() carries _metadata");
        Dictionary<string, PyTensor> tensors = TensorValues.TensorDict(module);
        Assert.That(tensors.Keys, Is.EquivalentTo(want.Keys));
        // ZeRO-1/2 module weights are views of one flat buffer per group: a shared storage.
        Assert.That(tensors.Values.Select(t => t.Storage.Key).Distinct().Count(), Is.LessThan(tensors.Count));
        foreach (var (name, t) in tensors)
        {
            Assert.That(t.DType, Is.EqualTo(dtype), name);
            double[] got = TensorValues.Read(source, a, t);
            double[] expected = want[name].Select(v => TensorValues.RoundTo(dtype, v)).ToArray();
            Assert.That(got, Is.EqualTo(expected), name);
        }
    }

    [TestCase("z3_w1_fp32", "refs/step1_fp32_1a7603d7_7e9a509b.pt")]
    [TestCase("z3_w1_bf16", "refs/step1_bf16_52a9e151_ef5d1572.pt")]
    public void Zero_3_fp32_partitions_of_a_single_rank_concatenate_to_the_reference_in_param_shapes_order(string folder, string reference)
    {
        Dictionary<string, double[]> want = ReadReference(reference);
        string dir = Path.Combine(DeepSpeed, folder, "global_step1");
        PyDict model = (PyDict)TorchArchive.Open(Path.Combine(dir, "zero_pp_rank_0_mp_rank_00_model_states.pt")).Root;
        var order = ((PyList)model.Get("param_shapes")!).Items.Cast<PyDict>()
            .SelectMany(g => g.Items.Select(kv => (Name: ((PyString)kv.Key).Value, Size: (PyObject)kv.Value))).ToList();
        Assert.That(order.Select(o => o.Size.Callable), Is.All.EqualTo(TorchGlobals.Size));

        string optim = Directory.GetFiles(dir, "*optim_states.pt").Single();
        using var source = new FileByteSource(optim);
        TorchArchive a = TorchArchive.Open(source);
        var state = (PyDict)((PyDict)a.Root).Get("optimizer_state_dict")!;
        Assert.That(TorchGlobals.TryGetZeroStage(state.Get("zero_stage")!, out int stage) && stage == 3, Is.True);
        var groups = ((PyList)state.Get("fp32_flat_groups")!).Items.Cast<PyTensor>().ToList();
        Assert.That(groups, Has.All.Property(nameof(PyTensor.DType)).EqualTo(DType.F32));
        double[] flat = groups.SelectMany(g => TensorValues.Read(source, a, g)).ToArray();
        double[] expected = order.SelectMany(o => want[o.Name]).ToArray();
        Assert.That(flat, Is.EqualTo(expected));
    }

    private static Dictionary<string, double[]> ReadReference(string reference)
    {
        using var source = new FileByteSource(Path.Combine(DeepSpeed, reference));
        TorchArchive a = TorchArchive.Open(source);
        var root = (PyDict)a.Root;
        PyValue weights = root.Get("fp32") ?? root; // init_fp32.pt is a plain {name: tensor} dict
        return TensorValues.TensorDict(weights).ToDictionary(kv => kv.Key, kv => TensorValues.Read(source, a, kv.Value));
    }
}
