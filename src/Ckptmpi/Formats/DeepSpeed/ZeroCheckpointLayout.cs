using System.Text;
using Ckptmpi.Formats.Torch;
using Ckptmpi.Formats.Torch.Pickle;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Formats.DeepSpeed;

// Directory, names, dicts, partitions, and the intended differences from DeepSpeed: docs/formats/deepspeed-zero.md.

/// <summary>
/// The DeepSpeed ZeRO checkpoint a training job finds after <c>deepspeed.initialize</c> + <c>save_checkpoint</c> at
/// step 0, as an <see cref="OutputLayout"/> computed from parameter metadata alone: <c>{tag}/</c> model-state and
/// optimizer-state files (torch.save zips whose storages are filled with canonical-tensor elements and zero padding)
/// and <c>latest</c> (the commit marker). Canonical tensor names are the <see cref="ParamSpec.Name"/>s.
/// </summary>
/// <remarks>
/// The fp32 master partitions are the canonical tensors cast to fp32; DeepSpeed derives them from the 16-bit weights,
/// so the two differ only when an fp32 source is trained in bf16/fp16 (ours keeps the fp32 values). No copy of
/// DeepSpeed's zero_to_fp32.py is written. Buffers are not written (Llama-family models have no persistent buffers).
/// </remarks>
public static class ZeroCheckpointLayout
{
    /// <param name="params">Every parameter, in module registration order (<see cref="ZeroParams"/>).</param>
    /// <param name="options">Stage, dp size, dtype, tag, ds_config and optimizer settings.</param>
    /// <exception cref="ArgumentException">Invalid options, duplicate or inconsistent parameters.</exception>
    public static OutputLayout For(IReadOnlyList<ParamSpec> @params, ZeroWriteOptions options)
    {
        ArgumentNullException.ThrowIfNull(@params);
        ArgumentNullException.ThrowIfNull(options);
        IReadOnlyList<PlannedTorchFile> planned = ZeroStatesPlanner.Plan(@params, options);
        // Each archive's layout is a pure function of its own object graph (pickling only reads the graph), so the
        // files are laid out in parallel: 405B at dp 96 is ~200 archives and ~110k zip records, seconds on one core.
        // Files that share one graph (ZeRO-3's model states of ranks 1..dp-1) pickle it once.
        var graphs = new Dictionary<PyValue, int>(ReferenceEqualityComparer.Instance);
        foreach (PlannedTorchFile f in planned) graphs.TryAdd(f.Root, graphs.Count);
        PyValue[] distinct = graphs.Keys.ToArray();
        var pickles = new (byte[] Pickle, IReadOnlyList<TorchStorage> Storages)[distinct.Length];
        System.Threading.Tasks.Parallel.For(0, distinct.Length, i => pickles[i] = TorchArchiveLayout.Pickle(distinct[i]));
        var laidOut = new OutputFile[planned.Count];
        System.Threading.Tasks.Parallel.For(0, planned.Count, i =>
        {
            PlannedTorchFile f = planned[i];
            var (pickle, storages) = pickles[graphs[f.Root]];
            TorchArchivePlan plan = TorchArchiveLayout.Plan(pickle, storages, TorchArchiveLayout.ArchiveNameFor(f.RelativePath));
            var byKey = f.Storages.ToDictionary(s => s.Storage.Key, StringComparer.Ordinal);
            laidOut[i] = plan.ToOutputFile(f.RelativePath, (storage, range) => Segments(byKey[storage.Key], range).ToList());
        });
        var files = new List<OutputFile>(laidOut);
        byte[] tag = Encoding.ASCII.GetBytes(options.Tag);
        files.Add(new OutputFile(DeepSpeedPaths.Latest, tag.Length, [new LiteralSegment(0, tag)], []) { IsCommitMarker = true });
        var layout = new OutputLayout(files);
        layout.Validate();
        return layout;
    }

    private static IEnumerable<OutputSegment> Segments(StoragePlan plan, ByteRange range)
    {
        long at = range.Start;
        int size = plan.Storage.DType.SizeInBytes();
        foreach (StorageFill fill in plan.Fills)
        {
            if (fill.Count == 0) continue;
            OutputSegment seg = fill switch
            {
                TensorFill t => new TensorSegment(at, t.Tensor, t.First, t.Count, plan.Storage.DType),
                ZeroFill z => new ZeroSegment(at, checked(z.Count * size)),
                _ => throw new System.Diagnostics.UnreachableException(),
            };
            yield return seg;
            at = seg.End;
        }
    }
}
