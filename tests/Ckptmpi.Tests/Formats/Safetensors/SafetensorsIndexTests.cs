using System.Text;
using Ckptmpi.Errors;
using Ckptmpi.Formats.Safetensors;

namespace Ckptmpi.Tests.Formats.Safetensors;

public sealed class SafetensorsIndexTests
{
    private const string File = "model.safetensors.index.json";

    private const string Valid = """
        {
          "metadata": {"total_size": 1234, "format": "pt"},
          "weight_map": {"b": "model-00002-of-00002.safetensors", "a": "model-00001-of-00002.safetensors"}
        }
        """;

    [Test]
    public void The_weight_map_keeps_file_order_and_total_size_is_read()
    {
        SafetensorsIndex index = SafetensorsIndex.Parse(Encoding.UTF8.GetBytes(Valid), File);
        Assert.That(index.WeightMap.Select(kv => kv.Key), Is.EqualTo(new[] { "b", "a" }));
        Assert.That(index.TotalSize, Is.EqualTo(1234));
    }

    [Test]
    public void A_float_total_size_is_accepted_when_whole()
    {
        Assert.That(SafetensorsIndex.Parse("""{"metadata":{"total_size":1.4e10},"weight_map":{}}"""u8, File).TotalSize, Is.EqualTo(14_000_000_000));
    }

    [TestCase("""{"weight_map":{"a":"x","a":"y"}}""", "twice")]
    [TestCase("""{"weight_map":{"a":1}}""", "expected a file name")]
    [TestCase("""{"weight_map":[]}""", "expected an object")]
    [TestCase("""{"metadata":{"total_size":-5},"weight_map":{}}""", "total_size")]
    [TestCase("""{"metadata":{}}""", "no weight_map")]
    [TestCase("""[]""", "not a JSON object")]
    [TestCase("""{"weight_map":{"a":"x"}""", "not valid JSON")]
    public void Malformed_indexes_are_format_errors_naming_the_file(string json, string message)
    {
        var e = Assert.Throws<CheckpointFormatException>(() => SafetensorsIndex.Parse(Encoding.UTF8.GetBytes(json), File))!;
        Assert.That(e.Path, Is.EqualTo(File));
        Assert.That(e.Message, Does.Contain(message));
    }

    [Test]
    public void Mutated_indexes_only_ever_raise_our_format_exception()
    {
        int seed = TestContext.CurrentContext.Random.Next();
        TestContext.Out.WriteLine($"fuzz seed {seed}");
        var rng = new Random(seed);
        byte[] valid = Encoding.UTF8.GetBytes(Valid);
        byte[] alphabet = "{}[],:\"0123456789-.e \\u"u8.ToArray();
        for (int i = 0; i < 5000; i++)
        {
            var b = new List<byte>(valid);
            for (int e = rng.Next(1, 4); e > 0 && b.Count > 0; e--)
            {
                int at = rng.Next(b.Count);
                switch (rng.Next(4))
                {
                    case 0: b[at] = (byte)rng.Next(256); break;
                    case 1: b[at] = alphabet[rng.Next(alphabet.Length)]; break;
                    case 2: b.Insert(at, alphabet[rng.Next(alphabet.Length)]); break;
                    default: b.RemoveAt(at); break;
                }
            }
            try
            {
                SafetensorsIndex.Parse(b.ToArray(), File);
            }
            catch (CheckpointFormatException e) when (e.Path == File) { }
            catch (Exception e)
            {
                Assert.Fail($"seed {seed}, case {i}: {e.GetType().Name}: {e.Message}\n{Encoding.UTF8.GetString(b.ToArray())}");
            }
        }
    }
}
