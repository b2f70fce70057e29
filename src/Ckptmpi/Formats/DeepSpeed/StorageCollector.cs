using Ckptmpi.Formats.Torch.Pickle;

namespace Ckptmpi.Formats.DeepSpeed;

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
