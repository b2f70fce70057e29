using Ckptmpi.Parallel;

namespace Ckptmpi.Cli;

/// <summary>
/// Runs one command's body on every rank: sets up the communicator for this run mode (one plain process
/// unless launched by mpiexec/srun), logging, and the mapping of failures to exit codes.
/// </summary>
public static class JobRunner
{
    public static int Run(Func<ICommunicator, int> body)
    {
        using ICommunicator comm = new SelfCommunicator();
        try
        {
            return body(comm);
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"ckptmpi: error: {e.Message}");
            return ExitCodes.For(e);
        }
    }
}
