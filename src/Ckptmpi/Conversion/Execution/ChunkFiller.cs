using System.Runtime.InteropServices;
using Ckptmpi.Conversion.Planning;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Checksums;
using Ckptmpi.Tensors.Kernels;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Conversion.Execution;

/// <summary>
/// Assembles one chunk in the buffer and writes it: source reads (direct mode) or bytes already placed there
/// (aggregate mode), literal bytes, zeros, casts; then the CRC of each of the chunk's runs; then one positional
/// write at the chunk's final offset in the temporary file.
/// </summary>
internal static class ChunkFiller
{
    public static void ReadSources(Chunk chunk, Span<byte> buffer, SourceFiles sources)
    {
        foreach (SourceRead r in chunk.Reads)
            sources[r.Source].ReadBlocks(r.SourceOffset, r.Length, r.Count, r.Stride, buffer.Slice(r.BufferOffset, r.TotalBytes));
    }

    /// <summary>Everything but the reads: literals, zeros, casts, gathers and quantizations, which need the staged source bytes in place.</summary>
    public static void Assemble(Chunk chunk, Span<byte> buffer, OutputFile file)
    {
        foreach (LiteralOp l in chunk.Literals)
        {
            var literal = (LiteralSegment)file.Segments[l.Segment];
            literal.Bytes.AsSpan(l.SegmentOffset, l.Length).CopyTo(buffer.Slice(l.BufferOffset, l.Length));
        }
        foreach (ZeroOp z in chunk.Zeros) buffer.Slice(z.BufferOffset, z.Length).Clear();
        foreach (CastOp c in chunk.Casts)
        {
            ReadOnlySpan<byte> from = buffer.Slice(c.StagingOffset, c.Elements * c.From.SizeInBytes());
            Span<byte> to = buffer.Slice(c.BufferOffset, c.Elements * c.To.SizeInBytes());
            Cast.Convert(from, c.From, to, c.To);
        }
        foreach (GatherOp g in chunk.Gathers)
        {
            Gather.Run(buffer, g.SourceOffset, g.SourceStrides, g.DestinationOffset, g.DestinationStrides, g.Shape, g.From, g.To,
                       g.Op is TensorOpKind.Scale or TensorOpKind.Divide ? g.Factor : null, divide: g.Op == TensorOpKind.Divide);
        }
        ReduceStep[] reduces = chunk.Reduces;
        for (int k = 0; k < reduces.Length; k++)
        {
            ReduceStep r = reduces[k];
            int n = (int)DTypes.ElementCount(r.Shape);
            ReadOnlySpan<float> values = MemoryMarshal.Cast<byte, float>(buffer.Slice(r.ScratchOffset, n * sizeof(float)));
            if (r.Op.Kind == TensorOpKind.MeanRows)
            {
                long length = DTypes.ElementCount(r.Op.RecordShape(r.Shape)) * r.DType.SizeInBytes();
                RowMean.Run(values, r.Shape, r.Op.Repeat, r.Op.ScaleDType, r.DType, buffer.Slice(r.BufferOffset, (int)length));
                continue;
            }
            bool scales = r.Op.Kind == TensorOpKind.QuantizeScales;
            int bytes = scales ? ScaleBytes(r) : n;
            // Values followed by their own scales (a companion file), from the same staged record: one call, one absmax pass.
            if (!scales && k + 1 < reduces.Length && reduces[k + 1] is { Op.Kind: TensorOpKind.QuantizeScales } next && SameQuantization(r, next))
            {
                Quantize.Run(values, r.Shape, r.Op.ReducedAxes ?? [], r.Op.ScaleDType, buffer.Slice(r.BufferOffset, bytes),
                             buffer.Slice(next.BufferOffset, ScaleBytes(next)), r.Op.Rule, r.Op.Factor);
                k++;
                continue;
            }
            Quantize.Run(values, r.Shape, r.Op.ReducedAxes ?? [], r.Op.ScaleDType, scales, buffer.Slice(r.BufferOffset, bytes), r.Op.Rule, r.Op.Factor);
        }
    }

    private static int ScaleBytes(ReduceStep r) => (int)DTypes.ElementCount(r.Op.RecordShape(r.Shape)) * r.Op.ScaleDType.SizeInBytes();

    private static bool SameQuantization(ReduceStep values, ReduceStep scales) =>
        values.ScratchOffset == scales.ScratchOffset && values.Shape.AsSpan().SequenceEqual(scales.Shape)
        && (values.Op.ReducedAxes ?? []).AsSpan().SequenceEqual(scales.Op.ReducedAxes ?? []) && values.Op.ScaleDType == scales.Op.ScaleDType
        && values.Op.Rule == scales.Op.Rule && values.Op.Factor == scales.Op.Factor;

    /// <summary>Appends the CRC of each run of the chunk, then of its companions' runs, to <paramref name="report"/>.</summary>
    public static void Checksum(Chunk chunk, ReadOnlySpan<byte> buffer, List<RunCrc> report)
    {
        foreach (CrcRun run in chunk.Crcs)
        {
            uint crc = Crc32.Hash(buffer.Slice((int)(run.FileOffset - chunk.Start), run.Length));
            report.Add(new RunCrc(chunk.File, run.FileOffset, run.Length, run.Field, crc));
        }
        foreach (CompanionWrite c in chunk.Companions)
        foreach (CrcRun run in c.Crcs)
        {
            uint crc = Crc32.Hash(buffer.Slice(c.BufferOffset + (int)(run.FileOffset - c.Start), run.Length));
            report.Add(new RunCrc(c.File, run.FileOffset, run.Length, run.Field, crc));
        }
    }

    /// <summary>The chunk's bytes, then its companions' (each at its place in its own file).</summary>
    public static void Write(Chunk chunk, ReadOnlySpan<byte> buffer, OutputFiles outputs)
    {
        WriteInPieces(outputs.Writer(chunk.File), buffer[..chunk.Length], chunk.Start);
        foreach (CompanionWrite c in chunk.Companions)
            WriteInPieces(outputs.Writer(c.File), buffer.Slice(c.BufferOffset, c.Length), c.Start);
    }

    /// <summary>
    /// One pwrite per MiB, not one per chunk: on the Linux VM we measure on, a chunk written in one call (tens of MiB)
    /// took 6.8-7.1 s of system time per GB, in 4 MiB pieces 1.9-3.2 s, in 1 MiB or 256 KiB pieces 0.9-1.2 s (NxDT ->
    /// HF of a 1 GB model, 1 rank); a thousand calls per GB cost nothing measurable.
    /// </summary>
    private const int WritePiece = 1 << 20;

    private static void WriteInPieces(Microsoft.Win32.SafeHandles.SafeFileHandle file, ReadOnlySpan<byte> bytes, long at)
    {
        for (int done = 0; done < bytes.Length; done += WritePiece)
            RandomAccess.Write(file, bytes.Slice(done, Math.Min(WritePiece, bytes.Length - done)), at + done);
    }
}
