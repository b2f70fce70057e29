using Ckptmpi.Formats.Torch;
using Ckptmpi.Formats.Torch.Pickle;

namespace Ckptmpi.Tests.Formats.Torch;

/// <summary>Every .pt file DeepSpeed 0.14.4 wrote under shared/fixtures/deepspeed parses completely.</summary>
public sealed class TorchFixtureTests
{
    public static IEnumerable<string> FixtureFiles() =>
        Directory.EnumerateFiles(Path.Combine(TestPaths.Fixtures, "deepspeed"), "*.pt", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(Path.Combine(TestPaths.Fixtures, "deepspeed"), f))
            .OrderBy(f => f, StringComparer.Ordinal);

    [TestCaseSource(nameof(FixtureFiles))]
    public void Every_fixture_file_opens_and_all_its_storages_are_mapped(string relative)
    {
        TorchArchive a = TorchArchive.Open(Path.Combine(TestPaths.Fixtures, "deepspeed", relative));
        Assert.That(a.Version, Is.EqualTo(3));
        Assert.That(a.StorageRanges.Keys, Is.EquivalentTo(a.Storages.Keys));
        Assert.That(a.Root, Is.InstanceOf<PyDict>().Or.InstanceOf<PyTensor>());
    }
}
