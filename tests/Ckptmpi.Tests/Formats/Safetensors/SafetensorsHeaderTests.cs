using System.Buffers.Binary;
using Ckptmpi.Errors;
using Ckptmpi.Formats.Safetensors;
using Ckptmpi.Tensors;
using static Ckptmpi.Tests.Formats.Safetensors.SafetensorsTestFiles;

namespace Ckptmpi.Tests.Formats.Safetensors;

public sealed class SafetensorsHeaderTests
{
    private const string File = "model-00001-of-00004.safetensors";

    private static SafetensorsHeader Parse(byte[] bytes) => SafetensorsHeader.Parse(bytes, bytes.Length, File);

    private static CheckpointFormatException Rejects(byte[] bytes, string messagePart)
    {
        var e = Assert.Throws<CheckpointFormatException>(() => Parse(bytes))!;
        Assert.That(e.Path, Is.EqualTo(File));
        Assert.That(e.Message, Does.StartWith(File).And.Contains(messagePart));
        return e;
    }

    [Test]
    public void A_valid_header_gives_tensors_in_data_order_with_file_ranges()
    {
        // Header order differs from data order on purpose: readers must sort by offset.
        byte[] bytes = Raw("""{"b":{"dtype":"F32","shape":[2],"data_offsets":[6,14]},"__metadata__":{"format":"pt"},"a":{"dtype":"BF16","shape":[1,3],"data_offsets":[0,6]},"s":{"dtype":"I64","shape":[],"data_offsets":[14,22]},"e":{"dtype":"F16","shape":[0,7],"data_offsets":[22,22]}}""", 22);
        SafetensorsHeader h = Parse(bytes);
        Assert.That(h.Tensors.Select(t => t.Name), Is.EqualTo(new[] { "a", "b", "s", "e" }));
        Assert.That(h.Metadata["format"], Is.EqualTo("pt"));
        Assert.That(h.DataStart % 8, Is.EqualTo(0));
        Assert.That(h["b"].FileRange, Is.EqualTo(new ByteRange(h.DataStart + 6, h.DataStart + 14)));
        Assert.That(h["b"].Shape, Is.EqualTo(new long[] { 2 }));
        Assert.That(h["s"].ElementCount, Is.EqualTo(1));
        Assert.That(h["e"].ElementCount, Is.EqualTo(0));
        Assert.That(h["a"].DType, Is.EqualTo(DType.BF16));
    }

    [Test]
    public void An_unpadded_header_and_one_with_no_tensors_are_valid()
    {
        Assert.That(Parse(Raw("""{"x":{"dtype":"U8","shape":[3],"data_offsets":[0,3]}}""", 3, pad: false)).Tensors, Has.Count.EqualTo(1));
        Assert.That(Parse(Raw("{}", 0)).Tensors, Is.Empty);
    }

    [Test]
    public void A_file_shorter_than_the_length_prefix_is_truncated()
    {
        var e = Assert.Throws<CheckpointFormatException>(() => SafetensorsHeader.Parse(new byte[5], 5, File))!;
        Assert.That(e.Offset, Is.EqualTo(0));
        Assert.That(e.Message, Does.Contain("truncated"));
    }

    [Test]
    public void A_header_length_of_two_to_the_63_is_rejected_before_any_allocation()
    {
        byte[] bytes = Raw("{}", 0, declaredLength: 1UL << 63);
        Assert.That(Rejects(bytes, "exceeds the 100000000-byte limit").Offset, Is.EqualTo(0));
    }

    [Test]
    public void A_header_length_past_the_end_of_the_file_means_truncation()
    {
        byte[] bytes = Raw("{}", 0, declaredLength: 4096);
        Assert.That(Rejects(bytes, "past the end of the file").Offset, Is.EqualTo(0));
    }

    [Test]
    public void A_header_that_does_not_start_with_a_brace_is_not_safetensors()
    {
        Assert.That(Rejects(Raw("[1]", 0), "does not start with '{'").Offset, Is.EqualTo(8));
    }

    [Test]
    public void Invalid_utf8_is_reported_at_the_byte_where_it_occurs()
    {
        byte[] bytes = Raw("""{"ab":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}}""", 0);
        bytes[8 + 3] = 0xFF; // inside "ab"
        Assert.That(Rejects(bytes, "not valid UTF-8").Offset, Is.EqualTo(11));
    }

    [TestCase("""{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}""", "not valid JSON")]
    [TestCase("""{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},}""", "not valid JSON")]
    [TestCase("""{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}} x""", "not valid JSON")]
    [TestCase("""{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}{}""", "not valid JSON")]
    [TestCase("""{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}""", "appears twice")]
    [TestCase("""{"a":{"dtype":"U8","dtype":"U8","shape":[1],"data_offsets":[0,1]}}""", "appears twice")]
    [TestCase("""{"a":{"shape":[1],"data_offsets":[0,1]}}""", "lacks dtype")]
    [TestCase("""{"a":{"dtype":"U8","shape":[1]}}""", "lacks data_offsets")]
    [TestCase("""{"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}}""", "non-negative")]
    [TestCase("""{"a":{"dtype":"U8","shape":[1.5],"data_offsets":[0,1]}}""", "non-negative")]
    [TestCase("""{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1,2]}}""", "expected [begin, end]")]
    [TestCase("""{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,99999999999999999999]}}""", "non-negative 64-bit")]
    [TestCase("""{"a":[1]}""", "expected an object")]
    [TestCase("""{"__metadata__":{"format":1},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}""", "must be strings")]
    [TestCase("""{"a\ud800":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}""", "not valid Unicode")]
    public void Malformed_json_is_rejected_naming_the_file(string json, string message)
    {
        Rejects(Raw(json, 1), message);
    }

    [Test]
    public void An_unknown_dtype_is_a_format_error_naming_the_tensor()
    {
        var e = Rejects(Raw("""{"w":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}}""", 4), "unknown dtype 'F33'");
        Assert.That(e.TensorName, Is.EqualTo("w"));
    }

    [Test]
    public void A_valid_but_unsupported_dtype_is_reported_as_unsupported()
    {
        byte[] bytes = Raw("""{"w":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}}""", 4);
        var e = Assert.Throws<UnsupportedCheckpointException>(() => Parse(bytes))!;
        Assert.That(e.Path, Is.EqualTo(File));
        Assert.That(e.Message, Does.Contain("F8_E4M3").And.Contain("'w'"));
    }

    [Test]
    public void A_byte_range_that_disagrees_with_shape_and_dtype_is_rejected()
    {
        var e = Rejects(Raw("""{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}""", 4), "needs 8");
        Assert.That(e.TensorName, Is.EqualTo("w"));
        Assert.That(e.Offset, Is.EqualTo(9)); // the entry's key, right after the '{'
    }

    [Test]
    public void Lying_offsets_that_end_before_they_begin_are_rejected()
    {
        Rejects(Raw("""{"w":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}}""", 4), "end before they begin");
    }

    [Test]
    public void A_shape_whose_byte_count_overflows_is_rejected_with_checked_arithmetic()
    {
        Rejects(Raw("""{"w":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}}""", 8), "64-bit length");
    }

    [Test]
    public void Overlapping_tensors_are_rejected()
    {
        var e = Rejects(Raw("""{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}}""", 6), "overlap");
        Assert.That(e.TensorName, Is.EqualTo("b"));
    }

    [Test]
    public void A_gap_between_tensors_is_rejected_at_its_offset()
    {
        byte[] bytes = Raw("""{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[4,6]}}""", 6);
        var e = Rejects(bytes, "gap");
        long dataStart = bytes.Length - 6;
        Assert.That(e.Offset, Is.EqualTo(dataStart + 2));
    }

    [Test]
    public void Data_that_stops_before_the_end_of_the_file_is_rejected()
    {
        Rejects(Raw("""{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}""", 3), "trailing data");
    }

    [Test]
    public void A_truncated_data_section_is_rejected()
    {
        byte[] bytes = Raw("""{"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]}}""", 8);
        var e = Assert.Throws<CheckpointFormatException>(() => SafetensorsHeader.Parse(bytes, bytes.Length - 3, File))!;
        Assert.That(e.Message, Does.Contain("truncated"));
    }

    [Test]
    public void A_prefix_shorter_than_the_declared_header_is_a_caller_error()
    {
        byte[] bytes = Raw("""{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}""", 2);
        Assert.That(() => SafetensorsHeader.Parse(bytes.AsSpan(0, 20), bytes.Length, File), Throws.ArgumentException);
    }

    [Test]
    public void Read_through_a_byte_source_reads_only_the_header()
    {
        byte[] bytes = Raw("""{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}""", 2);
        using var source = new CountingSource(bytes);
        SafetensorsHeader h = SafetensorsHeader.Read(source);
        Assert.That(h.Tensors.Single().Name, Is.EqualTo("a"));
        Assert.That(source.BytesRead, Is.EqualTo(8 + h.DataStart));
    }

    private sealed class CountingSource(byte[] bytes) : IByteSource
    {
        private readonly MemoryByteSource _inner = new(bytes, File);
        public long BytesRead { get; private set; }
        public string Path => _inner.Path;
        public long Length => _inner.Length;

        public void ReadExactly(long offset, Span<byte> destination)
        {
            BytesRead += destination.Length;
            _inner.ReadExactly(offset, destination);
        }

        public void Dispose() => _inner.Dispose();
    }

    [Test]
    public void Mutated_files_only_ever_raise_our_format_exceptions()
    {
        int seed = TestContext.CurrentContext.Random.Next();
        TestContext.Out.WriteLine($"fuzz seed {seed}");
        var rng = new Random(seed);
        byte[] valid = Raw("""{"__metadata__":{"format":"pt"},"a":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,12]},"b":{"dtype":"F32","shape":[],"data_offsets":[12,16]},"c":{"dtype":"I64","shape":[1],"data_offsets":[16,24]}}""", 24);
        byte[] alphabet = "{}[],:\"0123456789-.e \\ufF_ABI"u8.ToArray();
        int parsed = 0, rejected = 0;
        for (int i = 0; i < 20_000; i++)
        {
            byte[] m = Mutate(valid, rng, alphabet);
            try
            {
                SafetensorsHeader h = SafetensorsHeader.Parse(m, m.Length, File);
                Assert.That(h.Tensors.Sum(t => t.ByteLength), Is.EqualTo(m.Length - h.DataStart), "an accepted header must tile the data");
                parsed++;
            }
            catch (CheckpointFormatException e) when (e.Path == File) { rejected++; }
            catch (UnsupportedCheckpointException e) when (e.Path == File) { rejected++; }
            catch (Exception e)
            {
                Assert.Fail($"seed {seed}, case {i}: {e.GetType().Name}: {e.Message}\n{Convert.ToHexString(m)}");
            }
        }
        TestContext.Out.WriteLine($"{parsed} accepted, {rejected} rejected");
        Assert.That(rejected, Is.GreaterThan(1000));
    }

    private static byte[] Mutate(byte[] valid, Random rng, byte[] alphabet)
    {
        var b = new List<byte>(valid);
        int edits = rng.Next(1, 4);
        for (int e = 0; e < edits; e++)
        {
            int at = rng.Next(0, b.Count);
            switch (rng.Next(7))
            {
                case 0: b[at] = (byte)rng.Next(256); break;
                case 1: b[at] = alphabet[rng.Next(alphabet.Length)]; break;
                case 2: b.Insert(at, alphabet[rng.Next(alphabet.Length)]); break;
                case 3: b.RemoveAt(at); break;
                case 4: b.RemoveRange(at, b.Count - at); break; // truncate
                case 5: // rewrite the declared length
                    if (b.Count >= 8)
                    {
                        ulong n = rng.Next(3) switch { 0 => (ulong)rng.NextInt64(), 1 => (ulong)rng.Next(0, b.Count), _ => BinaryPrimitives.ReadUInt64LittleEndian(b.ToArray()) + (ulong)rng.Next(-8, 9) };
                        byte[] len = new byte[8];
                        BinaryPrimitives.WriteUInt64LittleEndian(len, n);
                        for (int j = 0; j < 8; j++) b[j] = len[j];
                    }
                    break;
                default: b[at] ^= (byte)(1 << rng.Next(8)); break;
            }
            if (b.Count == 0) break;
        }
        return b.ToArray();
    }
}
