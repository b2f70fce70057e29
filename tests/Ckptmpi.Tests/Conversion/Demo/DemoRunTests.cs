using Ckptmpi.Conversion.Demo;
using Ckptmpi.Parallel;

namespace Ckptmpi.Tests.Conversion.Demo;

public sealed class DemoRunTests
{
    [Test]
    public void The_demo_round_trip_is_bit_exact_on_one_and_on_two_ranks()
    {
        string dir = TestPaths.NewTempDir();
        try
        {
            foreach (int ranks in new[] { 1, 2 })
            {
                var results = ThreadCommunicator.Run(ranks, comm => DemoRun.Run(comm, Path.Combine(dir, $"r{ranks}"), new DemoModel { Layers = 2 }), TimeSpan.FromSeconds(120));
                Assert.That(results[0].Ok, Is.True, results[0].Summary);
                Assert.That(results[0].Summary, Does.Contain("bit-exact"));
            }
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Test]
    public void The_demo_model_is_the_same_every_time_it_is_written()
    {
        string dir = TestPaths.NewTempDir();
        try
        {
            var model = new DemoModel { Layers = 1, VocabSize = 300 };
            model.Write(Path.Combine(dir, "a"));
            model.Write(Path.Combine(dir, "b"));
            foreach (string f in Directory.GetFiles(Path.Combine(dir, "a")))
                Assert.That(File.ReadAllBytes(Path.Combine(dir, "b", Path.GetFileName(f))), Is.EqualTo(File.ReadAllBytes(f)), Path.GetFileName(f));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
