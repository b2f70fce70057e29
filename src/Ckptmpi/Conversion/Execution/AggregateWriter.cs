using Ckptmpi.Conversion.Planning;
using Ckptmpi.Parallel;

namespace Ckptmpi.Conversion.Execution;

/// <summary>
/// <c>--io aggregate</c>: source bytes are read only by their file's owner and reach the writing rank through
/// Alltoallv, round by round (see <see cref="AggregateSchedule"/>); the writer then assembles, checksums and
/// writes its chunk exactly as in direct mode, so both modes give the same bytes. Memory: the chunk buffer,
/// the receive area and the send buffer, all sized from the plan. A local failure keeps the rank in step with
/// the collectives (sending nothing useful) until the end of the round, when every rank learns of it and stops.
/// </summary>
internal static unsafe class AggregateWriter
{
    public static List<RunCrc> Write(ICommunicator comm, Plan plan, SourceFiles sources, OutputFiles outputs, BufferLedger ledger, IExecutionHooks? hooks = null)
    {
        var schedule = new AggregateSchedule(plan, ledger.Budget.SendBytes);
        int me = comm.Rank, ranks = comm.Size;
        var runs = new List<RunCrc>();
        using var chunkBuffer = new ChunkBuffer(plan.Ranks[me].PeakBuffer, ledger);
        using var receive = new ChunkBuffer(schedule.ReceiveBytes, ledger);
        using var send = new ChunkBuffer(schedule.SendBytes, ledger);
        Exception? failure = null;
        var sendCounts = new long[ranks];
        var sendDispls = new long[ranks];
        var recvCounts = new long[ranks];
        var recvDispls = new long[ranks];
        Parallel.Timeline.RankTimeline? timeline = Parallel.Timeline.RankTimeline.Current;

        for (int round = 0; round < schedule.Rounds; round++)
        {
            foreach (List<Transfer> step in schedule.Steps(round))
            {
                Array.Clear(sendCounts); Array.Clear(sendDispls); Array.Clear(recvCounts);
                Array.Fill(recvDispls, -1);
                int used = 0;
                // Transfers are grouped by owner, then destination, so what this rank sends to each destination is contiguous.
                foreach (Transfer t in step)
                {
                    if (t.Owner == me)
                    {
                        if (sendCounts[t.Destination] == 0) sendDispls[t.Destination] = used;
                        sendCounts[t.Destination] += t.Length;
                        used += t.Length;
                    }
                    if (t.Destination == me)
                    {
                        if (recvDispls[t.Owner] < 0) recvDispls[t.Owner] = t.ReceiveOffset;
                        recvCounts[t.Owner] += t.Length;
                    }
                }
                for (int r = 0; r < ranks; r++) if (recvDispls[r] < 0) recvDispls[r] = 0;

                double start = timeline?.Now ?? 0;
                if (failure is null)
                {
                    try { ReadRequests(step, me, send.Span, sources); }
                    catch (Exception e) { failure = e; }
                }
                start = timeline?.Record(Activities.Read, start) ?? 0;
                comm.Alltoallv(new NativeBuffer(send.Pointer, send.Length), sendCounts, sendDispls,
                               new NativeBuffer(receive.Pointer, receive.Length), recvCounts, recvDispls);
                timeline?.Record(Activities.Exchange, start);
            }

            if (failure is null && schedule.ChunkOf(me, round) is Chunk chunk)
            {
                try { Complete(chunk, plan, receive.Span, chunkBuffer.Span, outputs, runs, schedule.Owners, hooks); }
                catch (Exception e) { failure = e; }
            }
            if (comm.AllreduceMax(failure is null ? 0 : 1) != 0) break;
        }
        if (failure is not null) throw failure;
        // Another rank failed: return what we have; the caller's phase agreement fails the job everywhere.
        return runs;
    }

    /// <summary>Reads this owner's part of a step into the send buffer, in source-file order so the disk sees sequential reads.</summary>
    private static void ReadRequests(List<Transfer> step, int me, Span<byte> send, SourceFiles sources)
    {
        var mine = new List<(Transfer T, int At)>();
        int at = 0;
        foreach (Transfer t in step)
        {
            if (t.Owner != me) continue;
            mine.Add((t, at));
            at += t.Length;
        }
        foreach (var (t, pos) in mine.OrderBy(m => m.T.Source).ThenBy(m => m.T.SourceOffset))
            sources[t.Source].ReadExactly(t.SourceOffset, send.Slice(pos, t.Length));
    }

    /// <summary>Moves the received bytes to the positions the chunk's reads name, then finishes the chunk as direct mode does.</summary>
    private static void Complete(Chunk chunk, Plan plan, Span<byte> receive, Span<byte> buffer, OutputFiles outputs, List<RunCrc> runs, int[] owners, IExecutionHooks? hooks)
    {
        int at = 0;
        foreach (SourceRead r in chunk.Reads.OrderBy(r => owners[r.Source]).ThenBy(r => r.Source).ThenBy(r => r.SourceOffset))
        {
            receive.Slice(at, r.TotalBytes).CopyTo(buffer.Slice(r.BufferOffset, r.TotalBytes));
            at += r.TotalBytes;
        }
        Parallel.Timeline.RankTimeline? timeline = Parallel.Timeline.RankTimeline.Current;
        double start = timeline?.Now ?? 0;
        ChunkFiller.Assemble(chunk, buffer, plan.Files[chunk.File]);
        int before = runs.Count;
        ChunkFiller.Checksum(chunk, buffer, runs);
        start = timeline?.Record(Activities.Transform, start) ?? 0;
        hooks?.BeforeWrite(chunk, outputs);
        ChunkFiller.Write(chunk, buffer, outputs);
        timeline?.Record(Activities.Write, start);
        hooks?.Completed(chunk, runs, runs.Count - before);
    }
}
