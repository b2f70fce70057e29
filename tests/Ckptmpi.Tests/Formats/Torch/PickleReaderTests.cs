using Ckptmpi.Formats.Torch.Pickle;

namespace Ckptmpi.Tests.Formats.Torch;

/// <summary>Pickles from newer Python protocols (3-5) read into the same graph CPython unpickles.</summary>
public sealed class PickleReaderTests
{
    [TestCase(3)]
    [TestCase(4)]
    [TestCase(5)]
    public void A_protocol_N_pickle_read_by_us_and_rewritten_as_protocol_2_unpickles_to_the_same_object(int protocol)
    {
        string dir = TestPaths.NewTempDir();
        string input = Path.Combine(dir, "in.pkl"), output = Path.Combine(dir, "out.pkl");
        const string Make = """
import sys, pickle, collections, argparse
obj = {"s": "x" * 300, "short": "é", "b": b"\x00\x01" * 200, "sb": b"ab", "empty": b"", "set": {1, 2, 3}, "fs": frozenset({"a"}),
       "od": collections.OrderedDict([("k", [1, 2.5, None, True, False])]), "ns": argparse.Namespace(lr=0.1, name="n"),
       "ints": [0, 255, 256, 65535, 65536, -1, 2**31, -2**31 - 1, 2**100], "t": (1, (2, (3,)), ()), "f": -0.5}
obj["shared"] = [obj["od"], obj["od"]]
open(sys.argv[1], "wb").write(pickle.dumps(obj, protocol=int(sys.argv[2])))
""";
        TestPaths.RunPython(Make, input, protocol.ToString());
        var (root, _) = PickleReader.Read(File.ReadAllBytes(input), input);
        File.WriteAllBytes(output, PickleWriter.Write(root).Pickle);
        string result = TestPaths.RunPython(Make.Replace("open(sys.argv[1], \"wb\").write(pickle.dumps(obj, protocol=int(sys.argv[2])))", """
got = pickle.load(open(sys.argv[3], "rb"))
assert got == obj, (got, obj)
assert got["shared"][0] is got["shared"][1], "memo identity"
print("same")
"""), input, protocol.ToString(), output);
        Assert.That(result.Trim(), Is.EqualTo("same"));
    }
}
