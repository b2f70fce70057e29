using Ckptmpi.Formats.Torch.Pickle;

namespace Ckptmpi.Formats.DeepSpeed;

/// <summary>A run of elements of a storage the writer fills: canonical-tensor elements or zeros.</summary>
internal abstract record StorageFill(long Count);

/// <summary>Elements <c>[First, First + Count)</c> of canonical tensor <see cref="Tensor"/>, cast to the storage dtype.</summary>
internal sealed record TensorFill(string Tensor, long First, long Count) : StorageFill(Count);

/// <summary>Zero elements (partition and alignment padding).</summary>
internal sealed record ZeroFill(long Count) : StorageFill(Count);

/// <summary>One storage of a planned torch.save file and what fills it, in order, covering all its elements.</summary>
internal sealed record StoragePlan(TorchStorage Storage, IReadOnlyList<StorageFill> Fills);

/// <summary>A torch.save file before it is laid out: its object graph and the contents of each storage, in key order.</summary>
internal sealed record PlannedTorchFile(string RelativePath, PyValue Root, IReadOnlyList<StoragePlan> Storages)
{
    /// <summary>Proves each storage's fills cover it exactly (STYLE 11: leftovers are errors).</summary>
    public void Validate()
    {
        for (int i = 0; i < Storages.Count; i++)
        {
            StoragePlan s = Storages[i];
            if (s.Storage.Key != i.ToString(System.Globalization.CultureInfo.InvariantCulture))
                throw new InvalidOperationException($"{RelativePath}: storage {i} has key '{s.Storage.Key}'");
            long n = s.Fills.Sum(f => f.Count);
            if (n != s.Storage.ElementCount)
                throw new InvalidOperationException($"{RelativePath}: storage {s.Storage.Key} has {s.Storage.ElementCount} elements but its fills cover {n}");
        }
    }
}

/// <summary>Hands out storages with keys "0", "1", ... in creation order, which the builders keep equal to pickling order.</summary>
internal sealed class StorageCollector
{
    private readonly List<StoragePlan> _plans = new();

    public IReadOnlyList<StoragePlan> Plans => _plans;

    public TorchStorage Add(Ckptmpi.Tensors.DType dtype, IReadOnlyList<StorageFill> fills)
    {
        long n = fills.Sum(f => f.Count);
        var s = new TorchStorage(_plans.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), dtype, n);
        _plans.Add(new StoragePlan(s, fills));
        return s;
    }
}
