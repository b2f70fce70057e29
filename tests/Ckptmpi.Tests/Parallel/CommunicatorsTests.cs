using Ckptmpi.Parallel;
using Serilog;

namespace Ckptmpi.Tests.Parallel;

/// <summary>The run-mode decision, in-process: these paths never load libmpi.</summary>
public sealed class CommunicatorsTests
{
    private static readonly ILogger Quiet = new LoggerConfiguration().CreateLogger();

    [Test]
    public void Auto_mode_without_a_launcher_is_one_plain_process()
    {
        using ICommunicator comm = Communicators.Create(new MpiOptions(), LauncherEnvironment.None, Quiet);
        Assert.That(comm, Is.InstanceOf<SelfCommunicator>());
    }

    [Test]
    public void Off_mode_under_a_single_rank_launcher_is_one_plain_process()
    {
        using ICommunicator comm = Communicators.Create(new MpiOptions { Mode = RunMode.Off }, new LauncherEnvironment("Hydra/PMI", 0, 1, MpiAbiFamily.Mpich), Quiet);
        Assert.That(comm, Is.InstanceOf<SelfCommunicator>());
    }

    [Test]
    public void Off_mode_under_a_multi_rank_launcher_is_refused()
    {
        Assert.That(() => Communicators.Create(new MpiOptions { Mode = RunMode.Off }, new LauncherEnvironment("Hydra/PMI", 1, 4, MpiAbiFamily.Mpich), Quiet),
            Throws.TypeOf<MpiEnvironmentException>().With.Message.Contains("CKPTMPI_MPI=off but this process was started as Hydra/PMI: rank 1 of 4"));
    }
}
