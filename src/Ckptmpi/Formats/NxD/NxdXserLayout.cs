using Ckptmpi.Formats.Torch;
using Ckptmpi.Formats.Torch.Pickle;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Formats.NxD;

/// <summary>
/// A rank file in torch_xla serialization by reference, as NxDT training's <c>save_checkpoint(use_xser=True)</c> writes
/// it: <c>&lt;file&gt;</c> is the dict with every tensor replaced by <c>TensorReference(tid)</c> (tid: the running index in
/// key order), each tensor is <c>&lt;file&gt;.tensors/tensor_&lt;tid&gt;.pt</c> (a torch.save of that one tensor), and
/// <c>&lt;file&gt;.info.pt</c> maps each tid to its dtype, shape and <c>expert_model_parallel</c> (False: no experts).
/// NxD's loader needs the info file whenever references exist. Written with <c>--xser reference</c>: a checkpoint laid
/// out as training saves it, every tensor its own file. Plain <c>--xser</c> writes the converter's inline form.
/// </summary>
internal static class NxdXserLayout
{
    public static IEnumerable<OutputFile> RankFiles(NxdRankFile rank, SourceCatalog catalog, DType? dtype)
    {
        string main = rank.RelativePath;
        var references = new PyDict();
        var info = new PyDict();
        for (int tid = 0; tid < rank.Entries.Count; tid++)
        {
            NxdEntry e = rank.Entries[tid];
            DType d = NxdWriter.DTypeOf(e, catalog, dtype);
            references.Add(e.Key, TorchGlobals.MakeInstance(NxdXser.TensorReference, Attributes(("tid", new PyInt(tid)))));
            var facts = new PyDict();
            facts.Add("dtype", TorchGlobals.DTypeGlobal(d));
            facts.Add("shape", TorchGlobals.MakeSize(e.Shape));
            facts.Add("expert_model_parallel", PyBool.False);
            info.Items.Add(new(new PyInt(tid), facts));

            string path = NxdXser.TensorFile(main, tid);
            var storage = new TorchStorage("0", d, DTypes.ElementCount(e.Shape));
            TorchArchivePlan plan = TorchArchiveLayout.Plan(NxdWriter.Tensor(e, storage), TorchArchiveLayout.ArchiveNameFor(path));
            yield return plan.ToOutputFile(path, (s, range) => s.ElementCount == 0 ? [] : [NxdWriter.Record(e, d, catalog, range.Start)]);
        }
        yield return Literal(main, references);
        yield return Literal(NxdXser.InfoFile(main), info);
    }

    private static PyDict Attributes(params (string Name, PyValue Value)[] items)
    {
        var d = new PyDict();
        foreach (var (name, value) in items) d.Add(name, value);
        return d;
    }

    /// <summary>A torch.save file without storages: every byte is known from the object graph.</summary>
    private static OutputFile Literal(string path, PyValue root) =>
        TorchArchiveLayout.Plan(root, TorchArchiveLayout.ArchiveNameFor(path)).ToOutputFile(path, (_, _) => []);
}
