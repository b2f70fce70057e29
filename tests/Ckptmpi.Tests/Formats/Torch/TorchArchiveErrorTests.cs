using System.Buffers.Binary;
using Ckptmpi.Errors;
using Ckptmpi.Formats.Torch;
using Ckptmpi.Formats.Torch.Pickle;
using Ckptmpi.Tensors;

namespace Ckptmpi.Tests.Formats.Torch;

/// <summary>Each kind of bad input fails with our typed exception naming the file (and the offset where it is known).</summary>
public sealed class TorchArchiveErrorTests
{
    private const string Name = "bad.pt";

    private static byte[] ValidFile()
    {
        var root = new PyDict();
        root.Add("w", TorchTestData.Contiguous("0", DType.F32, 4, 4));
        root.Add("b", TorchTestData.Contiguous("1", DType.BF16, 3));
        return TorchArchiveWriter.ToBytes(root, "bad", s => TorchTestData.StorageBytes(s));
    }

    private static TorchArchive Open(byte[] bytes) => TorchArchive.Open(new MemoryByteSource(bytes, Name));

    private static NUnit.Framework.Constraints.Constraint FormatError() =>
        Throws.TypeOf<CheckpointFormatException>().With.Property(nameof(CheckpointFormatException.Path)).EqualTo(Name);

    [Test]
    public void The_valid_file_used_below_opens()
    {
        Assert.That(Open(ValidFile()).Storages, Has.Count.EqualTo(2));
    }

    [Test]
    public void A_file_truncated_anywhere_is_a_format_error_naming_the_file()
    {
        byte[] full = ValidFile();
        foreach (int length in new[] { 0, 3, 4, 30, 100, full.Length / 2, full.Length - 23, full.Length - 1 })
            Assert.That(() => Open(full[..length]), FormatError(), $"truncated to {length} bytes");
    }

    [Test]
    public void A_central_directory_offset_that_points_inside_data_is_a_format_error_at_the_entry()
    {
        byte[] bytes = ValidFile();
        int cd = CentralDirectoryOffset(bytes);
        // Entry 0's local header offset (at +42) now points 8 bytes into the file: no local header there.
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(cd + 42), 8);
        Assert.That(() => Open(bytes), FormatError().And.Property(nameof(CheckpointFormatException.Offset)).EqualTo(8));
    }

    [Test]
    public void A_storage_record_shorter_than_the_pickle_declares_is_a_format_error_naming_the_record()
    {
        byte[] bytes = ValidFile();
        int cd = CentralDirectoryOffset(bytes);
        int second = cd + 46 + BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(cd + 28)) + BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(cd + 30));
        second += 46 + BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(second + 28)) + BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(second + 30));
        // Third entry is data/0 (after data.pkl and byteorder): claim 60 bytes instead of 64.
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(second + 20), 60);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(second + 24), 60);
        Assert.That(() => Open(bytes), FormatError().And.Message.Contains("bad/data/0").And.Message.Contains("64 bytes"));
    }

    private string _badZips = "";

    // Real zips with unsafe names, compression, or a missing record, made once by Python's zipfile from a torch.save file.
    [OneTimeSetUp]
    public void MakeBadZips()
    {
        _badZips = TestPaths.NewTempDir("bad-zips");
        TestPaths.RunPython("""
import sys, os, zipfile, torch
d = sys.argv[1]
good = os.path.join(d, "good.pt")
torch.save({"w": torch.ones(3)}, good)
src = zipfile.ZipFile(good)
for kind in ["dotdot", "absolute", "backslash", "deflated", "missing_storage", "not_in_folder"]:
    with zipfile.ZipFile(os.path.join(d, kind + ".pt"), "w", zipfile.ZIP_DEFLATED if kind == "deflated" else zipfile.ZIP_STORED) as z:
        for info in src.infolist():
            name = info.filename
            data = src.read(name)
            if kind == "missing_storage" and name.endswith("/data/0"): continue
            if name.endswith("/version"):
                name = {"dotdot": "good/../../evil", "absolute": "/good/evil", "backslash": "good\\evil", "not_in_folder": "other/version"}.get(kind, name)
            z.writestr(name, data)
""", _badZips);
    }

    [TestCase("dotdot", "unsafe zip entry name")]
    [TestCase("absolute", "unsafe zip entry name")]
    [TestCase("backslash", "unsafe zip entry name")]
    [TestCase("deflated", "compressed (method 8)")]
    [TestCase("missing_storage", "has no record")]
    [TestCase("not_in_folder", "not inside the archive folder")]
    public void Zips_with_unsafe_names_compression_or_missing_records_are_format_errors(string kind, string message)
    {
        string bad = Path.Combine(_badZips, kind + ".pt");
        Assert.That(() => TorchArchive.Open(bad), Throws.TypeOf<CheckpointFormatException>()
            .With.Property(nameof(CheckpointFormatException.Path)).EqualTo(bad).And.Message.Contains(message));
    }

    [Test]
    public void An_unknown_opcode_is_a_format_error_at_its_offset()
    {
        byte[] pickle = [0x80, 2, (byte)'N', 0xFF, (byte)'.'];
        Assert.That(() => PickleReader.Read(pickle, Name, baseOffset: 1000), FormatError()
            .And.Property(nameof(CheckpointFormatException.Offset)).EqualTo(1003).And.Message.Contains("0xFF"));
    }

    [Test]
    public void Nesting_deeper_than_the_limit_is_a_format_error_not_a_stack_overflow()
    {
        const int Depth = 100_000;
        var pickle = new List<byte> { 0x80, 2 };
        for (int i = 0; i < Depth; i++) pickle.Add((byte)']');
        for (int i = 1; i < Depth; i++) pickle.Add((byte)'a');
        pickle.Add((byte)'.');
        Assert.That(() => PickleReader.Read(pickle.ToArray(), Name), FormatError().And.Message.Contains("deeper than 256"));
    }

    [Test]
    public void A_list_that_contains_itself_is_a_format_error()
    {
        byte[] pickle = [0x80, 2, (byte)']', (byte)'q', 0, (byte)'h', 0, (byte)'a', (byte)'.'];
        Assert.That(() => PickleReader.Read(pickle, Name), FormatError().And.Message.Contains("cycle"));
    }

    [TestCase(new byte[] { (byte)'X', 0xF0, 0xFF, 0xFF, 0xFF }, TestName = "A_4_GiB_string_length_is_rejected_without_allocating")]
    [TestCase(new byte[] { 0x8E, 0, 0, 0, 0, 0, 0, 0, 0x40 }, TestName = "A_2_to_the_62_byte_bytes_length_is_rejected_without_allocating")]
    [TestCase(new byte[] { 0x8B, 0xFF, 0xFF, 0xFF, 0x7F }, TestName = "A_2_GiB_integer_length_is_rejected_without_allocating")]
    [TestCase(new byte[] { (byte)'h', 7 }, TestName = "Reading_a_memo_entry_never_stored_is_a_format_error")]
    [TestCase(new byte[] { (byte)'a' }, TestName = "Popping_an_empty_stack_is_a_format_error")]
    [TestCase(new byte[] { (byte)'t' }, TestName = "A_tuple_without_a_mark_is_a_format_error")]
    [TestCase(new byte[] { (byte)'N' }, TestName = "A_pickle_without_STOP_is_a_format_error")]
    public void Hostile_pickles_fail_with_a_format_error(byte[] body)
    {
        byte[] pickle = [0x80, 2, .. body];
        long before = GC.GetAllocatedBytesForCurrentThread();
        Assert.That(() => PickleReader.Read(pickle, Name), FormatError());
        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.LessThan(1 << 20), "no allocation sized by the declared length");
    }

    [Test]
    public void A_tensor_reaching_past_its_storage_is_a_format_error()
    {
        var storage = new TorchStorage("0", DType.F32, 4);
        var root = new PyDict();
        root.Add("w", new PyTensor(storage, 2, [3], [1]));
        byte[] pickle = PickleWriter.Write(root).Pickle;
        Assert.That(() => PickleReader.Read(pickle, Name), FormatError().And.Message.Contains("reaches element 4"));
    }

    [Test]
    public void Random_bytes_are_not_a_torch_file()
    {
        Assert.That(() => Open(new byte[100]), FormatError().And.Message.Contains("not a torch.save file"));
    }

    private static int CentralDirectoryOffset(byte[] bytes) =>
        (int)BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(bytes.Length - 22 + 16));
}
