using System.Security.Cryptography;
using System.Text;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Conversion.Planning;

/// <summary>SHA-256 over everything that decides which bytes land where; ranks compare it before writing (no rank may write another plan).</summary>
internal static class PlanHasher
{
    public static string Hash(IReadOnlyList<OutputFile> files, IReadOnlyList<string> sources, int maxBuffer,
                              IReadOnlyList<RankPlan> ranks, IReadOnlyList<WorkItem> commitItems)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var w = new HashWriter(hash);
        w.Write(maxBuffer);
        w.Write(files.Count);
        foreach (OutputFile f in files)
        {
            w.Write(f.RelativePath); w.Write(f.Length); w.Write(f.IsCommitMarker); w.Write(f.Segments.Count);
            foreach (OutputSegment s in f.Segments)
            {
                w.Write(s.Offset);
                switch (s)
                {
                    case LiteralSegment l: w.Write((byte)1); w.Write(l.Bytes.Length); w.Write(l.Bytes); break;
                    case ZeroSegment z: w.Write((byte)2); w.Write(z.ZeroLength); break;
                    case TensorSegment t: w.Write((byte)3); w.Write(t.Tensor); w.Write(t.FirstElement); w.Write(t.ElementCount); w.Write((int)t.DType); break;
                    case ViewSegment v: w.Write((byte)4); Write(w, v); break;
                }
            }
            foreach (Crc32Field c in f.Crc32Fields)
            {
                w.Write(c.Covered.Start); w.Write(c.Covered.End);
                foreach (long at in c.WriteAt) w.Write(at);
            }
        }
        w.Write(sources.Count);
        foreach (string s in sources) w.Write(s);
        w.Write(ranks.Count);
        foreach (RankPlan r in ranks) Write(w, r.Items);
        Write(w, commitItems);
        w.Flush();
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    private static void Write(HashWriter w, IReadOnlyList<WorkItem> items)
    {
        w.Write(items.Count);
        foreach (WorkItem item in items)
        {
            w.Write(item.File); w.Write(item.Range.Start); w.Write(item.Range.End); w.Write(item.Chunks.Count);
            foreach (Chunk c in item.Chunks)
            {
                w.Write(c.Start); w.Write(c.Length); w.Write(c.BufferBytes);
                w.Write(c.Reads.Length);
                foreach (var r in c.Reads) { w.Write(r.Source); w.Write(r.SourceOffset); w.Write(r.BufferOffset); w.Write(r.Length); w.Write(r.Count); w.Write(r.Stride); }
                w.Write(c.Literals.Length);
                foreach (var l in c.Literals) { w.Write(l.Segment); w.Write(l.SegmentOffset); w.Write(l.BufferOffset); w.Write(l.Length); }
                w.Write(c.Zeros.Length);
                foreach (var z in c.Zeros) { w.Write(z.BufferOffset); w.Write(z.Length); }
                w.Write(c.Casts.Length);
                foreach (var x in c.Casts) { w.Write(x.StagingOffset); w.Write((int)x.From); w.Write(x.BufferOffset); w.Write((int)x.To); w.Write(x.Elements); }
                w.Write(c.Crcs.Length);
                foreach (var k in c.Crcs) { w.Write(k.FileOffset); w.Write(k.Length); w.Write(k.Field); }
                w.Write(c.Gathers.Length);
                foreach (GatherOp g in c.Gathers)
                {
                    w.Write(g.SourceOffset); w.Write(g.DestinationOffset); w.Write(g.ToScratch);
                    Write(w, g.Shape); Write(w, g.SourceStrides); Write(w, g.DestinationStrides);
                    w.Write((int)g.From); w.Write((int)g.To); w.Write((int)g.Op); w.Write(g.Factor);
                }
                w.Write(c.Reduces.Length);
                foreach (ReduceStep r in c.Reduces) { w.Write(r.ScratchOffset); w.Write(r.BufferOffset); Write(w, r.Shape); Write(w, r.Op); if (r.ToStaging) w.Write(true); }
                // Only chunks that have companions add to the hash: every other plan hashes as it always did.
                if (c.Companions.Length > 0) w.Write(c.Companions.Length);
                foreach (CompanionWrite x in c.Companions)
                {
                    w.Write(x.File); w.Write(x.Start); w.Write(x.Length); w.Write(x.BufferOffset); w.Write(x.Crcs.Length);
                    foreach (var k in x.Crcs) { w.Write(k.FileOffset); w.Write(k.Length); w.Write(k.Field); }
                }
            }
        }
    }

    private static void Write(HashWriter w, ViewSegment v)
    {
        Write(w, v.Shape); w.Write((int)v.DType); Write(w, v.Op); w.Write(v.Parts.Count);
        foreach (ViewPart p in v.Parts)
        {
            w.Write(p.Tensor); Write(w, p.Split); Write(w, p.Box.Start); Write(w, p.Box.Length);
            Write(w, p.Permutation.Select(a => (long)a).ToArray()); Write(w, p.Destination.Start); Write(w, p.Destination.Length);
        }
    }

    private static void Write(HashWriter w, TensorOp op)
    {
        w.Write((int)op.Kind); w.Write(op.Factor); w.Write((int)op.ScaleDType); w.Write((int)op.Rule);
        Write(w, (op.ReducedAxes ?? []).Select(a => (long)a).ToArray());
        // Only the row mean has a repeat count; other ops keep the hashes of plans made before it existed.
        if (op.Kind == TensorOpKind.MeanRows) w.Write(op.Repeat);
    }

    private static void Write(HashWriter w, long[] values)
    {
        w.Write(values.Length);
        foreach (long v in values) w.Write(v);
    }
}
