using Ckptmpi.Formats.Torch;
using Ckptmpi.Formats.Torch.Pickle;
using Ckptmpi.Formats.Torch.Zip;
using Ckptmpi.Tensors;

namespace Ckptmpi.Tests.Formats.Torch;

/// <summary>The writer reproduces the pickles DeepSpeed and torch wrote, byte for byte, from the graph our reader built.</summary>
public sealed class PickleRoundTripTests
{
    private static string DeepSpeed => Path.Combine(TestPaths.Fixtures, "deepspeed");

    // DeepSpeed's optimizer files were pickled by CPython 3.11.2, which writes ZeroStageEnum by name (getattr form);
    // we normalise to, and write, the by-value form, so those files differ in exactly that object.
    public static IEnumerable<string> FilesWithoutEnums() => TorchFixtureTests.FixtureFiles().Where(f => !f.Contains("optim_states"));

    public static IEnumerable<string> OptimizerFiles() => TorchFixtureTests.FixtureFiles().Where(f => f.Contains("optim_states"));

    [TestCaseSource(nameof(FilesWithoutEnums))]
    public void Every_model_state_and_reference_pickle_is_rewritten_byte_for_byte(string relative)
    {
        var (theirs, root) = ReadPickle(relative);
        Assert.That(Convert.ToHexString(PickleWriter.Write(root).Pickle), Is.EqualTo(Convert.ToHexString(theirs)));
    }

    [TestCaseSource(nameof(OptimizerFiles))]
    public void Every_optimizer_pickle_differs_from_ours_only_in_the_enum_form(string relative)
    {
        var (theirs, root) = ReadPickle(relative);
        byte[] ours = PickleWriter.Write(root).Pickle;
        var (reread, _) = PickleReader.Read(ours, "ours.pkl");
        Assert.That(Convert.ToHexString(PickleWriter.Write(reread).Pickle), Is.EqualTo(Convert.ToHexString(ours)), "our output reads back to the same graph");
        // Their bytes with getattr(ZeroStageEnum, name) have the same length as ours except for that construct.
        Assert.That(theirs.AsSpan().IndexOf("c__builtin__\ngetattr\n"u8), Is.GreaterThan(0));
        Assert.That(ours.AsSpan().IndexOf("getattr"u8), Is.LessThan(0));
        var state = (PyDict)((PyDict)root).Get("optimizer_state_dict")!;
        Assert.That(TorchGlobals.TryGetZeroStage(state.Get("zero_stage")!, out int stage), Is.True);
        Assert.That(stage, Is.EqualTo(int.Parse(relative[1..2])));
    }

    private static (byte[] Pickle, PyValue Root) ReadPickle(string relative)
    {
        using var source = new FileByteSource(Path.Combine(DeepSpeed, relative));
        TorchArchive a = TorchArchive.Open(source);
        ZipEntry pkl = a.Directory.FindRecord("data.pkl")!;
        var bytes = new byte[pkl.Length];
        source.ReadExactly(pkl.Data.Start, bytes);
        return (bytes, a.Root);
    }
}
