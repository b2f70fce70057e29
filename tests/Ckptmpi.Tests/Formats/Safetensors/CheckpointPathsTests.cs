using Ckptmpi.Formats.Safetensors;

namespace Ckptmpi.Tests.Formats.Safetensors;

public sealed class CheckpointPathsTests
{
    [Test]
    public void RealPath_resolves_chained_and_relative_links_like_python_realpath()
    {
        string root = TestPaths.NewTempDir();
        Directory.CreateDirectory(Path.Combine(root, "a", "b"));
        Directory.CreateDirectory(Path.Combine(root, "blobs"));
        File.WriteAllText(Path.Combine(root, "blobs", "f"), "x");
        File.CreateSymbolicLink(Path.Combine(root, "a", "b", "up"), "..");                       // a/b/up -> a
        File.CreateSymbolicLink(Path.Combine(root, "a", "l1"), Path.Combine("..", "blobs"));   // a/l1 -> blobs
        File.CreateSymbolicLink(Path.Combine(root, "a", "b", "l2"), Path.Combine("..", "l1", "f")); // a/b/l2 -> a/l1/f
        File.CreateSymbolicLink(Path.Combine(root, "abs"), Path.Combine(root, "a", "b"));
        string[] probes =
        [
            Path.Combine(root, "a", "b", "l2"),
            Path.Combine(root, "a", "b", "up", "l1", "f"),
            Path.Combine(root, "abs", "..", "l1", "f"), // '..' after a link climbs from its target (a/b -> a)
            Path.Combine(root, "abs", "l2"),
            Path.Combine(root, "a", ".", "b", "missing"),
        ];
        string python = TestPaths.RunPython("import sys, os\nfor p in sys.argv[1:]: print(os.path.realpath(p))", probes);
        Assert.That(probes.Select(CheckpointPaths.RealPath), Is.EqualTo(python.Trim().Split('\n')));
    }

    [Test]
    public void RealPath_reports_a_link_cycle_instead_of_looping()
    {
        string root = TestPaths.NewTempDir();
        File.CreateSymbolicLink(Path.Combine(root, "x"), "y");
        File.CreateSymbolicLink(Path.Combine(root, "y"), "x");
        Assert.That(() => CheckpointPaths.RealPath(Path.Combine(root, "x")), Throws.InstanceOf<IOException>().With.Message.Contains("symbolic links"));
    }
}
