using System.Buffers.Binary;
using System.Text.Json;
using Ckptmpi.Formats.Torch;
using Ckptmpi.Formats.Torch.Pickle;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Checksums;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Tests.Formats.Torch;

/// <summary>The planned layout: exact framing bytes (as torch writes them), 64-byte aligned storage data, CRC fields, zip64 beyond 4 GiB.</summary>
public sealed class TorchArchiveLayoutTests
{
    [Test]
    public void The_first_local_header_matches_the_torch_1_13_test_vector_of_the_spec()
    {
        var root = new PyDict();
        root.Add("w", TorchTestData.Contiguous("0", DType.F32, 2));
        TorchArchivePlan plan = TorchArchiveLayout.Plan(root, "mp_rank_00_model_states");
        byte[] head = plan.Literals[0].Bytes;
        // torch 1.13's first local header: 50 4B 03 04 | 00 00 | 08 08 | 00 00 | 00 00 | 00 00 | 0 | 0 | 0 | 20 00 | 42 00, name, 'FB' 62 x 'Z'.
        Assert.That(Convert.ToHexString(head, 0, 30), Is.EqualTo("504B03040000080800000000000000000000000000000000000020004200"));
        Assert.That(System.Text.Encoding.ASCII.GetString(head, 30, 32), Is.EqualTo("mp_rank_00_model_states/data.pkl"));
        Assert.That(Convert.ToHexString(head, 62, 4), Is.EqualTo("46423E00"));
        Assert.That(head.AsSpan(66, 62).ToArray(), Has.All.EqualTo((byte)'Z'));
        Assert.That(head[128], Is.EqualTo(0x80), "the pickle starts at 128");
    }

    [Test]
    public void Storage_data_is_64_byte_aligned_and_the_crc_fields_point_at_descriptor_and_central_directory()
    {
        var root = new PyDict();
        root.Add("a", TorchTestData.Contiguous("0", DType.BF16, 7));
        root.Add("empty", TorchTestData.Contiguous("1", DType.F32, 0));
        root.Add("c", TorchTestData.Contiguous("2", DType.I64, 3, 3));
        TorchArchivePlan plan = TorchArchiveLayout.Plan(root, "x");
        Assert.That(plan.StorageData.Values.Select(r => r.Start % 64), Has.All.EqualTo(0));
        Assert.That(plan.StorageData["0"].Length, Is.EqualTo(14));
        Assert.That(plan.StorageData["1"].Length, Is.EqualTo(0));
        Assert.That(plan.Crc.Select(c => c.Covered), Is.EqualTo(new[] { plan.StorageData["0"], plan.StorageData["2"] }), "no CRC field for an empty record");

        byte[] file = TorchArchiveWriter.ToBytes(root, "x", s => TorchTestData.StorageBytes(s));
        foreach (Crc32Field f in plan.Crc)
        {
            uint crc = Crc32.Compute(file.AsSpan((int)f.Covered.Start, (int)f.Covered.Length));
            Assert.That(f.WriteAt.Select(at => BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan((int)at))), Has.All.EqualTo(crc));
            Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan((int)f.WriteAt[0] - 4)), Is.EqualTo(0x08074B50u), "first CRC is in the data descriptor");
        }
    }

    [Test]
    public void The_output_file_interleaves_literals_with_the_callers_storage_segments_and_validates()
    {
        var root = new PyDict();
        root.Add("model.embed_tokens.weight", TorchTestData.Contiguous("0", DType.BF16, 4, 8));
        root.Add("model.norm.weight", TorchTestData.Contiguous("1", DType.BF16, 8));
        TorchArchivePlan plan = TorchArchiveLayout.Plan(root, "layer_01-model_00-model_states");
        var names = new Dictionary<string, string> { ["0"] = "model.embed_tokens.weight", ["1"] = "model.norm.weight" };
        OutputFile file = plan.ToOutputFile("global_step1/layer_01-model_00-model_states.pt", s => (names[s.Key], 0L));
        Assert.That(file.Length, Is.EqualTo(plan.Length));
        var tensors = file.Segments.OfType<TensorSegment>().ToList();
        Assert.That(tensors.Select(t => (t.Tensor, t.Offset)), Is.EqualTo(new[] { (names["0"], plan.StorageData["0"].Start), (names["1"], plan.StorageData["1"].Start) }));
        Assert.That(file.Crc32Fields, Has.Count.EqualTo(2));
        Assert.That(() => plan.ToOutputFile("bad.pt", (s, r) => [new ZeroSegment(r.Start, r.Length - 1)]), Throws.ArgumentException);
    }

    [Test]
    public void A_storage_over_4_GiB_gets_zip64_fields_that_python_zipfile_and_our_reader_agree_on()
    {
        // 5 GiB of fp32 then a small storage whose header lies beyond 4 GiB; storage data stays a hole in a sparse file.
        var big = new TorchStorage("0", DType.F32, 5L << 28);
        var root = new PyDict();
        root.Add("big", new PyTensor(big, 0, [big.ElementCount], [1]));
        root.Add("small", TorchTestData.Contiguous("1", DType.F32, 3));
        TorchArchivePlan plan = TorchArchiveLayout.Plan(root, "huge");
        Assert.That(plan.Length, Is.GreaterThan(5L << 30));

        string path = Path.Combine(TestPaths.NewTempDir(), "huge.pt");
        try
        {
            using (var fs = new FileStream(path, FileMode.Create, FileAccess.Write))
            {
                fs.SetLength(plan.Length);
                foreach (LiteralSegment lit in plan.Literals)
                {
                    fs.Position = lit.Offset;
                    fs.Write(lit.Bytes);
                }
            }
            TorchArchive a = TorchArchive.Open(path);
            Assert.That(a.StorageRanges["0"], Is.EqualTo(plan.StorageData["0"]));
            Assert.That(a.StorageRanges["1"], Is.EqualTo(plan.StorageData["1"]));
            Assert.That(a.StorageRanges["1"].Start, Is.GreaterThan(uint.MaxValue));

            string json = TestPaths.RunPython("""
import sys, zipfile, json, struct
z = zipfile.ZipFile(sys.argv[1])
f = open(sys.argv[1], "rb")
out = {}
for i in z.infolist():
    f.seek(i.header_offset)
    h = f.read(30)
    n, e = struct.unpack("<HH", h[26:30])
    out[i.filename] = [i.header_offset + 30 + n + e, i.file_size, i.compress_type]
print(json.dumps(out))
""", path);
            var entries = JsonSerializer.Deserialize<Dictionary<string, long[]>>(json)!;
            Assert.That(entries["huge/data/0"], Is.EqualTo(new[] { plan.StorageData["0"].Start, 5L << 30, 0 }));
            Assert.That(entries["huge/data/1"], Is.EqualTo(new[] { plan.StorageData["1"].Start, 12, 0 }));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Test]
    public void The_archive_name_is_the_file_name_without_directory_and_last_extension()
    {
        Assert.That(TorchArchiveLayout.ArchiveNameFor("/a/global_step10/mp_rank_00_model_states.pt"), Is.EqualTo("mp_rank_00_model_states"));
        Assert.That(TorchArchiveLayout.ArchiveNameFor("layer_03-model_00-model_states.pt"), Is.EqualTo("layer_03-model_00-model_states"));
        Assert.That(TorchArchiveLayout.ArchiveNameFor("x.tar.pt"), Is.EqualTo("x.tar"));
        Assert.That(TorchArchiveLayout.ArchiveNameFor("poids_é.pt"), Is.EqualTo("archive"));
    }

    [Test]
    public void Unzip_dash_t_accepts_a_file_we_wrote()
    {
        var root = new PyDict();
        root.Add("w", TorchTestData.Contiguous("0", DType.F16, 33));
        root.Add("e", TorchTestData.Contiguous("1", DType.I8, 0));
        string file = Path.Combine(TestPaths.NewTempDir(), "unzip.pt");
        TorchArchiveWriter.Write(file, root, s => TorchTestData.StorageBytes(s));
        ProcessResult r = TestPaths.RunProcess("unzip", ["-t", file]);
        Assert.That(r.ExitCode, Is.EqualTo(0), r.ToString());
        Assert.That(r.Stdout, Does.Contain("No errors detected"));
    }
}
