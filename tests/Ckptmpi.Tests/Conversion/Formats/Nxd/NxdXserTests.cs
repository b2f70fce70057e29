using Ckptmpi.Conversion.Demo;
using Ckptmpi.Conversion.Verify;
using Ckptmpi.Formats.NxD;
using Ckptmpi.Formats.Safetensors;
using Ckptmpi.Formats.Torch;
using Ckptmpi.Formats.Torch.Pickle;

namespace Ckptmpi.Tests.Conversion.Formats.Nxd;

/// <summary>
/// torch_xla serialization in both forms: inline (the converter's, <c>--to nxdt --xser</c>: the plain rank files beside
/// empty <c>&lt;file&gt;.tensors/</c> folders; the fixture tests compare it with the real converter's) and by reference
/// (NxDT training's, <c>--xser reference</c>). Each is read back with <c>--from nxdt --xser</c> and by NxD's xser
/// loading logic in PyTorch; a broken reference is refused.
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

    private static NxdOptions Options(bool xser, bool reference = false) => new()
    {
        Hardware = NxdHardware.Trn1, TpSize = 4, PpSize = 2, QkvLinear = true, KvSizeMultiplier = 2, FuseQkv = true, Xser = xser, XserByReference = reference,
    };

    [Test]
    public void Inline_is_the_plain_files_beside_empty_tensor_folders_the_same_bytes_for_1_2_and_4_ranks_within_the_buffer()
    {
        // Tensors larger than the 64 KiB --max-buffer (the embedding is 256 KiB), so every rank file streams in pieces.
        string hf = Path.Combine(_dir, "hf-wide");
        new DemoModel { HiddenSize = 128, IntermediateSize = 256, Layers = 3, Heads = 8, KvHeads = 2, VocabSize = 1024 }.Write(hf);
        const long MaxBuffer = 64 << 10;
        string plain = NxdTestSupport.Convert("hf", "nxdt", hf, Path.Combine(_dir, "plain"), Options(false), ranks: 1, MaxBuffer);
        List<string> plainTree = NxdTestSupport.Tree(plain);
        var expectedTree = plainTree.Concat(plainTree.Where(p => p.EndsWith(".pt", StringComparison.Ordinal)).Select(p => p + ".tensors/")).Order(StringComparer.Ordinal).ToList();
        Assert.That(expectedTree.Count(p => p.EndsWith(".tensors/", StringComparison.Ordinal)), Is.EqualTo(8));

        foreach (int ranks in new[] { 1, 2, 4 })
        {
            string xser = Path.Combine(_dir, $"xser-{ranks}");
            var request = new Ckptmpi.Conversion.ConvertRequest { From = "hf", To = "nxdt", Input = hf, Output = xser, MaxBuffer = MaxBuffer, FormatOptions = [Options(true)] };
            var outcomes = Ckptmpi.Parallel.ThreadCommunicator.Run(ranks, comm => Ckptmpi.Conversion.ConversionJob.Run(comm, request), TimeSpan.FromSeconds(180));
            Assert.That(outcomes.Select(o => o.Execution!.PeakBufferBytes), Has.All.LessThanOrEqualTo(MaxBuffer), $"{ranks} ranks: buffers within --max-buffer");
            Assert.That(NxdTestSupport.Tree(xser), Is.EqualTo(expectedTree), $"{ranks} ranks");
            foreach (string file in plainTree.Where(p => p.StartsWith("model/", StringComparison.Ordinal) && !p.EndsWith('/') || p == "config.json"))
                Assert.That(File.ReadAllBytes(Path.Combine(xser, file)), Is.EqualTo(File.ReadAllBytes(Path.Combine(plain, file))), $"{ranks} ranks: {file}");
        }

        // Back to HF bit-exact, read as xser and (the rank files being plain torch.save files) without it.
        string input = Path.Combine(_dir, "xser-4");
        foreach (bool flag in new[] { true, false })
        {
            string back = NxdTestSupport.Convert("nxdt", "hf", input, Path.Combine(_dir, $"back-{flag}"), Options(flag), ranks: 2, MaxBuffer);
            Assert.That(CatalogComparer.Compare(SafetensorsCheckpoint.Open(hf), SafetensorsCheckpoint.Open(back)), Is.Empty, $"--xser {flag}");
        }
    }

    [Test]
    public void Overwriting_the_by_reference_form_with_the_inline_one_leaves_no_reference_files()
    {
        string output = Path.Combine(_dir, "out");
        NxdTestSupport.Convert("hf", "nxdt", _hf, output, Options(true, reference: true));
        string inline = NxdTestSupport.Convert("hf", "nxdt", _hf, Path.Combine(_dir, "inline"), Options(true));
        var request = new Ckptmpi.Conversion.ConvertRequest { From = "hf", To = "nxdt", Input = _hf, Output = output, MaxBuffer = 64 << 10, Overwrite = true, FormatOptions = [Options(true)] };
        Ckptmpi.Parallel.ThreadCommunicator.Run(2, comm => Ckptmpi.Conversion.ConversionJob.Run(comm, request), TimeSpan.FromSeconds(180));
        Assert.That(NxdTestSupport.Tree(Path.Combine(output, "model")), Is.EqualTo(NxdTestSupport.Tree(Path.Combine(inline, "model"))));
    }

    [Test]
    public void A_link_planted_where_a_tensor_folder_goes_is_refused_before_writing()
    {
        string output = Path.Combine(_dir, "out"), elsewhere = Path.Combine(_dir, "elsewhere");
        Directory.CreateDirectory(Path.Combine(output, "model"));
        Directory.CreateDirectory(elsewhere);
        Directory.CreateSymbolicLink(Path.Combine(output, NxdXser.TensorFolder(NxdPaths.RankFile(1, 1))), elsewhere);
        var r = TestPaths.RunCkptmpi(["convert", "--from", "hf", "--to", "nxdt", "--input", _hf, "--output", output, "--no-report", .. Layout, "--xser"]);
        Assert.That(r.ExitCode, Is.Not.EqualTo(0), r.Stdout + r.Stderr);
        Assert.That(r.Stdout + r.Stderr, Does.Contain("dp_rank_00_tp_rank_01_pp_rank_01.pt.tensors").And.Contain("symbolic link"));
        Assert.That(Directory.EnumerateFiles(Path.Combine(output, "model")), Is.Empty, "nothing written");
    }

    [Test]
    public void By_reference_round_trips_and_holds_what_the_plain_files_hold()
    {
        string xser = NxdTestSupport.Convert("hf", "nxdt", _hf, Path.Combine(_dir, "xser"), Options(true, reference: true), ranks: 3);
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

    [TestCase(false, "OK 8 files inline")]
    [TestCase(true, "OK 8 files by reference")]
    public void NxDs_xser_loader_in_pytorch_reads_the_same_tensors_as_torch_load_of_the_plain_files(bool reference, string expected)
    {
        if (!File.Exists(TestPaths.Python)) Assert.Ignore($"{TestPaths.Python} (with torch) is not installed");
        string xser = NxdTestSupport.Convert("hf", "nxdt", _hf, Path.Combine(_dir, "xser"), Options(true, reference));
        string plain = NxdTestSupport.Convert("hf", "nxdt", _hf, Path.Combine(_dir, "plain"), Options(false));
        string output = TestPaths.RunPython(LoaderScript, Path.Combine(xser, "model"), Path.Combine(plain, "model"));
        Assert.That(output.Trim(), Is.EqualTo(expected));
    }

    [Test]
    public void An_unknown_xser_form_is_refused_naming_both()
    {
        var r = TestPaths.RunCkptmpi(["convert", "--from", "hf", "--to", "nxdt", "--input", _hf, "--output", Path.Combine(_dir, "out"), "--no-report", .. Layout, "--xser", "refs"]);
        Assert.That(r.ExitCode, Is.EqualTo(2), r.Stdout + r.Stderr);
        Assert.That(r.Stdout + r.Stderr, Does.Contain("'refs'").And.Contain("inline").And.Contain("reference"));
        Assert.That(Directory.Exists(Path.Combine(_dir, "out", "model")), Is.False);
    }

    [Test]
    public void A_missing_tensor_file_and_a_link_out_of_the_checkpoint_are_named()
    {
        string xser = TestPaths.RunCkptmpi(["convert", "--from", "hf", "--to", "nxdt", "--input", _hf, "--output", Path.Combine(_dir, "xser"), "--xser", "reference", "--no-report", .. Layout]).ExitCode == 0
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

    // NxD trainer/checkpoint.py _xser_load_data, with torch_xla's TensorReference (a class with one attribute, tid): it
    // torch.loads <file>, reads <file>.info.pt only when it exists, and replaces each reference by its tensor file.
    // The inline form has no references (and no info file): what it loads is torch.load of the rank file itself.
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
            info = torch.load(path + '.info.pt', map_location='cpu') if os.path.exists(path + '.info.pt') else None
            assert os.path.isdir(path + '.tensors'), path
            out, refs = {}, 0
            for k, v in data.items():
                if isinstance(v, TensorReference):
                    refs += 1
                    t = torch.load(os.path.join(path + '.tensors', f'tensor_{v.tid}.pt'), map_location='cpu')
                    i = info[v.tid]
                    assert i['dtype'] == t.dtype and tuple(i['shape']) == tuple(t.shape) and i['expert_model_parallel'] is False, (k, i)
                    out[k] = t
                else:
                    assert isinstance(v, torch.Tensor), k
                    out[k] = v
            if refs == 0:
                assert info is None and os.listdir(path + '.tensors') == [], path
            return out, refs
        xser, plain = sys.argv[1], sys.argv[2]
        files = sorted(f for f in os.listdir(plain) if f.endswith('.pt'))
        forms = set()
        for f in files:
            (x, refs), y = xser_load(os.path.join(xser, f)), torch.load(os.path.join(plain, f), map_location='cpu')
            forms.add('by reference' if refs == len(y) else 'inline' if refs == 0 else 'mixed')
            assert list(x) == list(y), f
            for k in y:
                assert x[k].dtype == y[k].dtype and x[k].shape == y[k].shape and x[k].stride() == y[k].stride() and torch.equal(x[k], y[k]), (f, k)
        print('OK', len(files), 'files', *sorted(forms))
        """;
}
