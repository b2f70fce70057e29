using Ckptmpi.Conversion.Demo;
using Ckptmpi.Conversion.Verify;
using Ckptmpi.Formats.NxD;
using Ckptmpi.Formats.Safetensors;
using Ckptmpi.Formats.Torch;
using Ckptmpi.Formats.Torch.Pickle;

namespace Ckptmpi.Tests.Conversion.Formats.Nxd;

/// <summary>
/// torch_xla serialization by reference (NxDT training's form): written with <c>--to nxdt --xser</c>, read with
/// <c>--from nxdt --xser</c>, loaded by NxD's own xser loading logic in PyTorch, and refused when a reference is broken.
/// The converter's inline form is read by the fixture tests.
/// </summary>
public sealed class NxdXserTests
{
    private string _dir = null!;
    private string _hf = null!;

    private static readonly string[] Layout = ["--hw-backend", "trn1", "--tp-size", "4", "--pp-size", "2", "--qkv-linear", "--kv-size-multiplier", "2", "--fuse-qkv"];

    [SetUp]
    public void SetUp()
    {
        _dir = TestPaths.NewTempDir();
        _hf = Path.Combine(_dir, "hf");
        new DemoModel { HiddenSize = 64, IntermediateSize = 96, Layers = 3, Heads = 8, KvHeads = 2, VocabSize = 128 }.Write(_hf);
    }

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    private static NxdOptions Options(bool xser) => new()
    {
        Hardware = NxdHardware.Trn1, TpSize = 4, PpSize = 2, QkvLinear = true, KvSizeMultiplier = 2, FuseQkv = true, Xser = xser,
    };

    [Test]
    public void By_reference_round_trips_and_holds_what_the_plain_files_hold()
    {
        string xser = NxdTestSupport.Convert("hf", "nxdt", _hf, Path.Combine(_dir, "xser"), Options(true), ranks: 3);
        string plain = NxdTestSupport.Convert("hf", "nxdt", _hf, Path.Combine(_dir, "plain"), Options(false), ranks: 1);
        string rank = Path.Combine(xser, NxdPaths.RankFile(1, 1));
        Assert.That(File.Exists(rank + ".info.pt"), Is.True);
        Assert.That(Directory.EnumerateFiles(rank + ".tensors").Count(), Is.EqualTo(NxdTestSupport.RankTensors(Path.Combine(plain, NxdPaths.RankFile(1, 1))).Count));
        var reference = TorchArchive.Open(rank).Root as PyDict;
        Assert.That(reference!.Items[0].Value, Is.TypeOf<PyObject>().And.Property("Callable").EqualTo(NxdXser.TensorReference));

        string back = NxdTestSupport.Convert("nxdt", "hf", xser, Path.Combine(_dir, "back"), Options(true), ranks: 2);
        Assert.That(CatalogComparer.Compare(SafetensorsCheckpoint.Open(_hf), SafetensorsCheckpoint.Open(back)), Is.Empty);

        var withoutFlag = Assert.Throws<Ckptmpi.Errors.RankFailedException>(() => NxdTestSupport.Convert("nxdt", "hf", xser, Path.Combine(_dir, "back2"), Options(false)));
        Assert.That(withoutFlag!.Message, Does.Contain("TensorReference").And.Contain("--xser"));
    }

    [Test]
    public void NxDs_xser_loader_in_pytorch_reads_the_same_tensors_as_from_the_plain_files()
    {
        if (!File.Exists(TestPaths.Python)) Assert.Ignore($"{TestPaths.Python} (with torch) is not installed");
        string xser = NxdTestSupport.Convert("hf", "nxdt", _hf, Path.Combine(_dir, "xser"), Options(true));
        string plain = NxdTestSupport.Convert("hf", "nxdt", _hf, Path.Combine(_dir, "plain"), Options(false));
        string output = TestPaths.RunPython(LoaderScript, Path.Combine(xser, "model"), Path.Combine(plain, "model"));
        Assert.That(output.Trim(), Is.EqualTo("OK 8 files"));
    }

    [Test]
    public void A_missing_tensor_file_and_a_link_out_of_the_checkpoint_are_named()
    {
        string xser = TestPaths.RunCkptmpi(["convert", "--from", "hf", "--to", "nxdt", "--input", _hf, "--output", Path.Combine(_dir, "xser"), "--xser", "--no-report", .. Layout]).ExitCode == 0
            ? Path.Combine(_dir, "xser") : throw new InvalidOperationException("conversion failed");
        string tensor = Path.Combine(xser, NxdXser.TensorFile(NxdPaths.RankFile(2, 1), 3));
        string outside = Path.Combine(_dir, "outside.pt");
        File.Move(tensor, outside);
        string message = Refused(xser, "back1");
        Assert.That(message, Does.Contain("tensor_3.pt").And.Contain("missing"));

        File.CreateSymbolicLink(tensor, outside);
        message = Refused(xser, "back2");
        Assert.That(message, Does.Contain("tensor_3.pt").And.Contain("links outside the checkpoint"));
    }

    [Test]
    public void A_global_outside_the_allowlist_in_a_rank_file_is_refused_naming_the_file()
    {
        string plain = Path.Combine(_dir, "plain");
        Assert.That(TestPaths.RunCkptmpi(["convert", "--from", "hf", "--to", "nxdt", "--input", _hf, "--output", plain, "--no-report", .. Layout]).ExitCode, Is.EqualTo(0));
        string rank = Path.Combine(plain, NxdPaths.RankFile(0, 0));
        var root = new PyDict();
        root.Add("model.embed_tokens.weight", new PyObject(new PyGlobal("os", "system"), new PyTuple(new PyString("true"))));
        TorchArchiveWriter.Write(rank, root, _ => ReadOnlyMemory<byte>.Empty);
        string message = Refused(plain, "back", xser: false);
        Assert.That(message, Does.Contain("dp_rank_00_tp_rank_00_pp_rank_00.pt").And.Contain("os.system"));
    }

    [Test]
    public void A_state_dict_wrapped_in_a_model_entry_reads_like_the_flat_one()
    {
        string plain = NxdTestSupport.Convert("hf", "nxdt", _hf, Path.Combine(_dir, "plain"), Options(false));
        foreach (string rank in Directory.EnumerateFiles(Path.Combine(plain, "model"), "*.pt"))
        {
            TorchArchive archive = TorchArchive.Open(rank);
            byte[] bytes = File.ReadAllBytes(rank);
            var wrapped = new PyDict();
            wrapped.Add("model", archive.Root);
            string copy = rank + ".tmp";
            TorchArchiveWriter.Write(copy, wrapped, s => bytes.AsMemory((int)archive.RangeOf(s).Start, (int)s.ByteLength), TorchArchiveLayout.ArchiveNameFor(rank));
            File.Move(copy, rank, overwrite: true);
        }
        string back = NxdTestSupport.Convert("nxdt", "hf", plain, Path.Combine(_dir, "back"), Options(false));
        Assert.That(CatalogComparer.Compare(SafetensorsCheckpoint.Open(_hf), SafetensorsCheckpoint.Open(back)), Is.Empty);
    }

    private string Refused(string input, string output, bool xser = true)
    {
        string target = Path.Combine(_dir, output);
        var r = TestPaths.RunCkptmpi(["convert", "--from", "nxdt", "--to", "hf", "--input", input, "--output", target, "--no-report", .. Layout, .. (xser ? new[] { "--xser" } : [])]);
        Assert.That(r.ExitCode, Is.EqualTo(3), r.Stdout + r.Stderr);
        Assert.That(File.Exists(Path.Combine(target, "ckptmpi-manifest.json")), Is.False);
        return r.Stdout + r.Stderr;
    }

    // NxD trainer/checkpoint.py _xser_load_data, with torch_xla's TensorReference (a class with one attribute, tid).
    private const string LoaderScript = """
        import os, sys, types, torch
        serialization = types.ModuleType('torch_xla.utils.serialization')
        class TensorReference:
            def __init__(self, tid):
                self.tid = tid
        serialization.TensorReference = TensorReference
        sys.modules.update({'torch_xla': types.ModuleType('torch_xla'), 'torch_xla.utils': types.ModuleType('torch_xla.utils'), 'torch_xla.utils.serialization': serialization})
        def xser_load(path):
            data = torch.load(path, map_location='cpu')
            info = torch.load(path + '.info.pt', map_location='cpu')
            out = {}
            for k, v in data.items():
                assert isinstance(v, TensorReference), k
                t = torch.load(os.path.join(path + '.tensors', f'tensor_{v.tid}.pt'), map_location='cpu')
                i = info[v.tid]
                assert i['dtype'] == t.dtype and tuple(i['shape']) == tuple(t.shape) and i['expert_model_parallel'] is False, (k, i)
                out[k] = t
            return out
        xser, plain = sys.argv[1], sys.argv[2]
        files = sorted(f for f in os.listdir(plain) if f.endswith('.pt'))
        for f in files:
            x, y = xser_load(os.path.join(xser, f)), torch.load(os.path.join(plain, f), map_location='cpu')
            assert list(x) == list(y), f
            for k in y:
                assert x[k].dtype == y[k].dtype and x[k].shape == y[k].shape and x[k].stride() == y[k].stride() and torch.equal(x[k], y[k]), (f, k)
        print('OK', len(files), 'files')
        """;
}
