using System.Buffers.Binary;
using Ckptmpi.Conversion.Manifests;
using Ckptmpi.Conversion.Planning;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Checksums;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Conversion.Execution;

/// <summary>
/// Rank 0's part of the commit protocol, once every rank has written and synced its pieces: combine the reported
/// CRC runs (proving every byte was written), patch the zip CRC slots, rename the temporary files, create the
/// layout's folders, then write the commit markers last, each through the same temp-sync-rename path.
/// </summary>
internal sealed class Committer(Plan plan, OutputFiles outputs, SourceFiles sources, BufferLedger ledger, IExecutionHooks? hooks = null)
{
    public List<OutputChecksum> Commit(IEnumerable<RunCrc> reported)
    {
        var perFile = new List<RunCrc>[plan.Files.Count];
        for (int f = 0; f < perFile.Length; f++) perFile[f] = [];
        foreach (RunCrc r in reported) perFile[r.File].Add(r);

        var crcs = new uint[plan.Files.Count];
        for (int f = 0; f < plan.Files.Count; f++)
        {
            if (!plan.Files[f].IsCommitMarker) crcs[f] = Finalize(f, perFile[f]);
        }
        outputs.Close();
        // A job cancelled (or orphaned by its launcher) while the others wrote must not commit now.
        Ckptmpi.Parallel.Interruption.ThrowIfRequested();
        for (int f = 0; f < plan.Files.Count; f++)
        {
            if (plan.Files[f].IsCommitMarker) continue;
            hooks?.BeforeRename(f);
            File.Move(outputs.TempPath(f), outputs.FinalPath(f), overwrite: true);
        }
        foreach (string folder in plan.Layout.Directories) outputs.CreateFolder(folder);

        // Only now, with every other file in place under its final name, the files a consumer reads first.
        Ckptmpi.Parallel.Interruption.ThrowIfRequested();
        foreach (WorkItem item in plan.CommitItems)
        {
            outputs.Create(item.File);
            var runs = new List<RunCrc>();
            using (var buffer = new ChunkBuffer(item.PeakBuffer, ledger))
            {
                foreach (Chunk chunk in item.Chunks)
                {
                    Span<byte> span = buffer.Span;
                    ChunkFiller.ReadSources(chunk, span, sources);
                    ChunkFiller.Assemble(chunk, span, plan.Files[item.File]);
                    ChunkFiller.Checksum(chunk, span, runs);
                    ChunkFiller.Write(chunk, span, outputs);
                }
            }
            crcs[item.File] = Finalize(item.File, runs);
            outputs.Close();
            File.Move(outputs.TempPath(item.File), outputs.FinalPath(item.File), overwrite: true);
        }

        return plan.Files.Select((file, f) => new OutputChecksum(file.RelativePath, file.Length, crcs[f].ToString("x8"))).ToList();
    }

    /// <summary>
    /// Proves the runs tile the file (less the CRC slots), patches each slot with its field's CRC, fsyncs, and
    /// returns the CRC-32 of the whole file, combined from the runs without reading the file back.
    /// </summary>
    private uint Finalize(int f, List<RunCrc> runs)
    {
        OutputFile file = plan.Files[f];
        runs.Sort((a, b) => a.Offset.CompareTo(b.Offset));

        var fieldCrc = new uint[file.Crc32Fields.Count];
        for (int i = 0; i < fieldCrc.Length; i++)
        {
            ByteRange covered = file.Crc32Fields[i].Covered;
            long at = covered.Start;
            uint crc = 0;
            foreach (RunCrc r in runs)
            {
                if (r.Field != i) continue;
                if (r.Offset != at) throw Gap(file, at);
                crc = Crc32.Combine(crc, r.Crc, r.Length);
                at += r.Length;
            }
            if (at != covered.End) throw Gap(file, at);
            fieldCrc[i] = crc;
        }

        IReadOnlyList<CrcSlot> slots = plan.Slots[f];
        if (slots.Count > 0)
        {
            Span<byte> le = stackalloc byte[4];
            var writer = outputs.Writer(f);
            foreach (CrcSlot slot in slots)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(le, fieldCrc[slot.Field]);
                RandomAccess.Write(writer, le, slot.Offset);
                runs.Add(new RunCrc(f, slot.Offset, 4, -1, Crc32.Hash(le)));
            }
            RandomAccess.FlushToDisk(writer);
            runs.Sort((a, b) => a.Offset.CompareTo(b.Offset));
        }

        long end = 0;
        uint total = 0;
        foreach (RunCrc r in runs)
        {
            if (r.Offset != end) throw Gap(file, end);
            total = Crc32.Combine(total, r.Crc, r.Length);
            end += r.Length;
        }
        if (end != file.Length) throw Gap(file, end);
        return total;
    }

    private static InvalidOperationException Gap(OutputFile file, long at) =>
        new($"{file.RelativePath}: no rank reported writing byte {at}; refusing to commit an incomplete file");
}
