using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Ckptmpi.Parallel.Native;

namespace Ckptmpi.Parallel;

// The end-of-job agreement over a duplicate of MPI_COMM_WORLD: a failing rank may arrive while the others are
// still blocked in a collective of the job; on its own communicator the agreement cannot be matched with that
// collective, and a non-blocking Iallreduce lets the failing rank give up after a while and abort instead.
public sealed unsafe partial class MpiCommunicator : IOutcomeAgreement
{
    public bool TryAgreeOnOutcome(JobOutcome? failure, TimeSpan failedRankWait, out JobOutcome? agreed)
    {
        // Native memory: if this rank gives up, the pending Iallreduce may still write here, so it is never freed.
        long* values = (long*)NativeMemory.Alloc(2, sizeof(long));
        values[0] = failure is null ? long.MaxValue : Rank;
        nint request = 0;
        int rc;
        using (Enter("MPI_Iallreduce")) rc = LibMpi.MPI_Iallreduce(values, values + 1, 1, _abi.Int64, _abi.OpMin, _agreementComm, &request);
        Check(rc, "MPI_Iallreduce");

        if (failure is null)
        {
            using (Enter("MPI_Wait")) rc = LibMpi.MPI_Wait(&request, (void*)_abi.StatusIgnore);
            Check(rc, "MPI_Wait");
        }
        else if (!WaitUntil(&request, failedRankWait))
        {
            agreed = null;
            return false;
        }

        long failing = values[1];
        NativeMemory.Free(values);
        if (failing == long.MaxValue)
        {
            agreed = null;
            return true;
        }

        // Every rank is in step on the agreement communicator now: the lowest failing rank tells its story.
        int root = checked((int)failing);
        byte[] json = Rank == root ? JsonSerializer.SerializeToUtf8Bytes(failure) : [];
        long length = json.Length;
        BcastOn(_agreementComm, new NativeBuffer((byte*)&length, sizeof(long)), root);
        if (Rank != root) json = new byte[length];
        fixed (byte* p = json) BcastOn(_agreementComm, new NativeBuffer(p, length), root);
        agreed = JsonSerializer.Deserialize<JobOutcome>(json) ?? throw new InvalidDataException($"rank {root} sent an empty outcome: {Encoding.UTF8.GetString(json)}");
        return true;
    }

    private bool WaitUntil(nint* request, TimeSpan wait)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            int flag = 0, rc;
            using (Enter("MPI_Test")) rc = LibMpi.MPI_Test(request, &flag, (void*)_abi.StatusIgnore);
            Check(rc, "MPI_Test");
            if (flag != 0) return true;
            if (clock.Elapsed >= wait) return false;
            Thread.Sleep(5);
        }
    }
}
