using Ckptmpi.Formats.Torch.Pickle;

namespace Ckptmpi.Formats.DeepSpeed;

/// <summary>A torch.save file before it is laid out: its object graph and the contents of each storage, in key order.</summary>
internal sealed record PlannedTorchFile(string RelativePath, PyValue Root, IReadOnlyList<StoragePlan> Storages)
{
    /// <summary>Proves each storage's fills cover it exactly (a leftover byte is a bug, so it is an error).</summary>
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
